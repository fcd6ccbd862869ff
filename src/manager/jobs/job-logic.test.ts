import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterLimiter } from './cluster-limiter.js';
import { canTransition, JobProgress, type JobResult, pickHosts } from './job-logic.js';

const result = (scheduler: string, host: string, state: JobResult['state'], taskId = 't1'): JobResult => ({
  scheduler,
  host,
  hostname: host,
  ip: '127.0.0.1',
  is_seed: false,
  peer: null,
  task_id: taskId,
  url: null,
  state,
  error: state === 'succeeded' ? null : state,
  has_task: null,
  complete: null,
  bytes: null,
  content_length: null,
});

test('jobs only move forward', () => {
  assert.ok(canTransition('pending', 'running'));
  assert.ok(canTransition('pending', 'failed'));
  assert.ok(canTransition('running', 'succeeded'));
  assert.ok(!canTransition('running', 'pending'));
  assert.ok(!canTransition('succeeded', 'failed'));
  assert.ok(!canTransition('failed', 'running'));
});

test('count and percentage pick that many hosts, the same ones for the same job', () => {
  const hosts = Array.from({ length: 10 }, (_, i) => `h${i}`);
  assert.equal(pickHosts(hosts, { count: 3 }, 'job-1').length, 3);
  assert.equal(pickHosts(hosts, { count: 30 }, 'job-1').length, 10);
  assert.equal(pickHosts(hosts, { percentage: 25 }, 'job-1').length, 3, 'rounded up');
  assert.equal(pickHosts(hosts, { percentage: 1 }, 'job-1').length, 1, 'at least one');
  assert.equal(pickHosts([...hosts, 'h1'], {}, 'job-1').length, 10, 'duplicates count once');
  assert.deepEqual(
    pickHosts(hosts, { count: 4 }, 'job-1'),
    pickHosts([...hosts].reverse(), { count: 4 }, 'job-1'),
  );
  assert.notDeepEqual(pickHosts(hosts, { count: 4 }, 'job-1'), pickHosts(hosts, { count: 4 }, 'job-2'));
  assert.deepEqual(pickHosts([], { count: 4 }, 'job-1'), []);
});

test('progress counts each scheduler by its plan; a host seen twice counts once, best answer wins', () => {
  const p = new JobProgress(['s1', 's2']);
  assert.equal(p.progress, 0);
  p.plan('s1', 2);
  p.add(result('s1', 'h1', 'timeout'));
  assert.equal(p.progress, 0.25);
  p.plan('s2', 1);
  p.add(result('s2', 'h1', 'succeeded'));
  p.add(result('s1', 'h2', 'succeeded'));
  p.finish('s1');
  p.finish('s2');
  assert.equal(p.progress, 1);
  assert.deepEqual(
    p.results.map((r) => [r.host, r.state]),
    [
      ['h1', 'succeeded'],
      ['h2', 'succeeded'],
    ],
  );
  assert.deepEqual(p.outcome('find_task'), { state: 'succeeded', error: null });
});

test('the outcome names what went wrong', () => {
  const hosts = new JobProgress(['s1']);
  hosts.plan('s1', 3);
  hosts.add(result('s1', 'h1', 'succeeded'));
  hosts.add(result('s1', 'h2', 'timeout'));
  hosts.add(result('s1', 'h3', 'refused'));
  hosts.finish('s1');
  assert.deepEqual(hosts.outcome('delete_task'), {
    state: 'failed',
    error: '2 of 3 host results did not succeed (1 timeout, 1 refused)',
  });
  const down = new JobProgress(['s1', 's2']);
  down.finish('s1', 'Unavailable: connect ECONNREFUSED');
  down.plan('s2', 0);
  down.finish('s2');
  assert.match(down.outcome('find_task').error!, /^scheduler s1: Unavailable/);
  assert.equal(down.results[0]!.host, '', 'the scheduler failure is listed');
  const empty = new JobProgress(['s1']);
  empty.plan('s1', 0);
  empty.finish('s1');
  assert.match(empty.outcome('preheat', 'single_seed_peer').error!, /no seed peer is connected/);
  assert.deepEqual(empty.outcome('find_task'), { state: 'succeeded', error: null }, 'nobody holds it');
});

test('the per-cluster limit passes a burst of its rate, then says when to retry; clusters are apart', () => {
  let now = 0;
  const limiter = new ClusterLimiter(3, () => now, 2);
  assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a')], [0, 0, 0]);
  assert.equal(limiter.take('a'), 334);
  assert.equal(limiter.take('b'), 0, 'another cluster is still served');
  now = 400;
  assert.equal(limiter.take('a'), 0);
  limiter.take('c'); // over the key bound: the oldest key ('a') goes, and starts full again
  assert.equal(limiter.take('a'), 0);
});
