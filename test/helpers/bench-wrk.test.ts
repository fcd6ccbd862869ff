import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrk } from '../../bench/lib/wrk.js';

const SAMPLE = `Running 10s test @ https://127.0.0.1:8443/api/v1/clusters
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.87ms    2.10ms  40.11ms   90.00%
    Req/Sec     3.25k   210.00     3.60k    75.00%
  Latency Distribution
     50%    9.50ms
     75%   10.20ms
     90%   11.80ms
     99%  850.00us
  32410 requests in 10.01s, 9.20MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   3237.76
Transfer/sec:      0.92MB
`;

test('parseWrk reads throughput, percentiles in any unit, and counts errors', () => {
  const r = parseWrk(SAMPLE);
  assert.equal(r.requestsPerSecond, 3237.76);
  assert.equal(r.requests, 32410);
  assert.equal(r.p50Ms, 9.5);
  assert.equal(r.p99Ms, 0.85);
  assert.equal(r.errors, 15);
});

test('parseWrk refuses output it cannot read', () => {
  assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), /cannot parse/);
});
