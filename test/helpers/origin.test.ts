import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeRandomFile, sha256File } from './files.js';
import { type Origin, parseRange, startOrigin } from './origin.js';
import { makeTestCa } from './tls.js';
import { cleanupTempDirs, tempDir } from './tmp.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(
  url: string,
  options: { method?: string; headers?: Record<string, string>; ca?: string; abortAfter?: number } = {},
): Promise<Reply> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, ca: options.ca },
      (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
          if (options.abortAfter !== undefined && length >= options.abortAfter) {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          }
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err) => (options.abortAfter === undefined ? reject(err) : undefined));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

describe('test origin', () => {
  let dir: string;
  let origin: Origin;
  let content: Buffer;
  const SIZE = 1024 * 1024 + 123;

  before(async () => {
    dir = tempDir('warren-origin-');
    const file = await makeRandomFile(join(dir, 'a.bin'), SIZE);
    content = readFileSync(file.path);
    assert.equal(await sha256File(file.path), file.sha256);
    origin = await startOrigin({ dir });
  });
  after(async () => {
    await origin.close();
    cleanupTempDirs();
  });

  test('GET serves the whole file and counts its bytes', async () => {
    origin.reset();
    const reply = await get(origin.url('/a.bin'));
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-length'], String(SIZE));
    assert.equal(reply.headers['accept-ranges'], 'bytes');
    assert.ok(reply.body.equals(content));
    assert.equal(origin.bytesSent('/a.bin'), SIZE);
    assert.equal(origin.bytesSent('a.bin'), SIZE);
    assert.equal(origin.requests('/a.bin'), 1);
  });

  test('HEAD answers the length and sends no body bytes', async () => {
    origin.reset();
    const reply = await get(origin.url('a.bin'), { method: 'HEAD' });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-length'], String(SIZE));
    assert.equal(reply.body.length, 0);
    assert.equal(origin.bytesSent(), 0);
    assert.equal(origin.requests(), 1);
  });

  test('a single range answers 206 with exactly those bytes, counted', async () => {
    origin.reset();
    const reply = await get(origin.url('/a.bin'), { headers: { Range: 'bytes=1000-5095' } });
    assert.equal(reply.status, 206);
    assert.equal(reply.headers['content-range'], `bytes 1000-5095/${SIZE}`);
    assert.equal(reply.headers['content-length'], '4096');
    assert.ok(reply.body.equals(content.subarray(1000, 5096)));
    const tail = await get(origin.url('/a.bin'), { headers: { Range: 'bytes=-100' } });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(content.subarray(SIZE - 100)));
    const open = await get(origin.url('/a.bin'), { headers: { Range: `bytes=${SIZE - 10}-` } });
    assert.ok(open.body.equals(content.subarray(SIZE - 10)));
    assert.equal(origin.bytesSent('/a.bin'), 4096 + 100 + 10);
    assert.equal(origin.log('/a.bin')[0]?.range, 'bytes=1000-5095');
  });

  test('a range past the end answers 416', async () => {
    const reply = await get(origin.url('/a.bin'), { headers: { Range: `bytes=${SIZE}-` } });
    assert.equal(reply.status, 416);
    assert.equal(reply.headers['content-range'], `bytes */${SIZE}`);
  });

  test('missing files and paths outside the folder answer 404', async () => {
    assert.equal((await get(origin.url('/nope.bin'))).status, 404);
    assert.equal((await get(`${origin.baseUrl}/%2e%2e/%2e%2e/etc/passwd`)).status, 404);
  });

  test('a client that goes away is not counted for bytes never written', async () => {
    const slow = await startOrigin({ dir, rateLimitBytesPerSec: 1024 * 1024 });
    try {
      const reply = await get(slow.url('/a.bin'), { abortAfter: 64 * 1024 });
      assert.equal(reply.status, 200);
      await sleep(300);
      assert.ok(slow.bytesSent('/a.bin') < SIZE / 2, `sent ${slow.bytesSent('/a.bin')}`);
    } finally {
      await slow.close();
    }
  });

  test('the rate limit is shared by all connections', async () => {
    const limited = await startOrigin({ dir, rateLimitBytesPerSec: 1024 * 1024 });
    try {
      const started = performance.now();
      const range = { Range: 'bytes=0-262143' };
      const replies = await Promise.all([
        get(limited.url('/a.bin'), { headers: range }),
        get(limited.url('/a.bin'), { headers: range }),
      ]);
      const seconds = (performance.now() - started) / 1000;
      for (const reply of replies) assert.equal(reply.body.length, 262144);
      // 512 KiB at 1 MiB/s together: about 0.5 s (one slice may go early).
      assert.ok(seconds >= 0.4 && seconds < 10, `took ${seconds} s`);
    } finally {
      await limited.close();
    }
  });

  test('a required header is enforced, and ranges can be switched off', async () => {
    const strict = await startOrigin({
      dir,
      requireHeader: { name: 'X-Token', value: 's3cret' },
      ranges: false,
    });
    try {
      assert.equal((await get(strict.url('/a.bin'))).status, 403);
      const reply = await get(strict.url('/a.bin'), { headers: { 'X-Token': 's3cret', Range: 'bytes=0-9' } });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['accept-ranges'], undefined);
      assert.equal(reply.body.length, SIZE);
      assert.equal(strict.log('/a.bin')[1]?.headers['x-token'], 's3cret');
    } finally {
      await strict.close();
    }
  });

  test('serves HTTPS with a certificate from a test CA', async () => {
    const ca = await makeTestCa(join(dir, 'pki'));
    const issued = await ca.issue('peer', 'origin');
    const secure = await startOrigin({ dir, https: issued.material });
    try {
      assert.match(secure.baseUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
      const reply = await get(secure.url('/a.bin'), { headers: { Range: 'bytes=0-99' }, ca: ca.caPem });
      assert.equal(reply.status, 206);
      assert.ok(reply.body.equals(content.subarray(0, 100)));
    } finally {
      await secure.close();
    }
  });
});

describe('parseRange', () => {
  const cases: [string | undefined, number, ReturnType<typeof parseRange>][] = [
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=90-500', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-500', 100, { start: 0, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=5-1', 100, undefined],
    ['bytes=0-1,5-6', 100, undefined],
    ['items=0-1', 100, undefined],
    [undefined, 100, undefined],
  ];
  for (const [header, size, expected] of cases) {
    test(`${header} of ${size} bytes -> ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseRange(header, size), expected);
    });
  }
});
