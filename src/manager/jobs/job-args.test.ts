import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskIdFor } from '../../core/task.js';
import { jobTasks, parseJobArgs, REDACTED, redactArgs } from './job-args.js';

const url = 'https://origin.example/a.bin?X-Amz-Signature=abc';

test('a preheat is checked field by field, naming the bad one', () => {
  const ok = { urls: [url], scope: 'single_seed_peer' };
  assert.deepEqual(parseJobArgs('preheat', ok), ok);
  const cases: Array<[unknown, RegExp]> = [
    [{ urls: [], scope: 'all_peers' }, /args\.urls: .*1/],
    [{ urls: Array(101).fill(url), scope: 'all_peers' }, /args\.urls: .*100/],
    [{ urls: ['ftp://x/y'], scope: 'all_peers' }, /args\.urls\.0: scheme 'ftp:'/],
    [{ urls: ['not a url'], scope: 'all_peers' }, /args\.urls\.0: 'not a url' is not a valid URL/],
    [{ urls: [url], scope: 'everywhere' }, /args\.scope/],
    [{ urls: [url], scope: 'all_seed_peers', count: 2 }, /apply to scope 'all_peers' only/],
    [{ urls: [url], scope: 'all_peers', count: 2, percentage: 5 }, /not both/],
    [{ urls: [url], scope: 'all_peers', percentage: 101 }, /args\.percentage/],
    [{ urls: [url], scope: 'all_peers', headers: { 'Bad Name': 'x' } }, /args\.headers/],
    [{ urls: [url], scope: 'all_peers', headers: { X: 'a\r\nb' } }, /CR, LF or NUL/],
    [{ urls: [url], scope: 'all_peers', extra: 1 }, /args/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseJobArgs('preheat', args), message, JSON.stringify(args));
  }
});

test('find and delete take a task id or a URL, not both', () => {
  const id = 'c'.repeat(64);
  assert.deepEqual(parseJobArgs('find_task', { task_id: id }), { task_id: id });
  assert.throws(() => parseJobArgs('delete_task', {}), /one of them/);
  assert.throws(() => parseJobArgs('delete_task', { task_id: id, url }), /one of them/);
  assert.throws(() => parseJobArgs('delete_task', { task_id: 'xyz' }), /args\.task_id/);
  assert.throws(() => parseJobArgs('find_task', { task_id: id, tag: 't' }), /go with args\.url/);
});

test('task ids are the ones warren get computes', () => {
  const preheat = parseJobArgs('preheat', {
    urls: [url, 'https://origin.example/b.bin'],
    tag: 't',
    filter_query: ['v'],
    scope: 'all_seed_peers',
    headers: { Authorization: 'secret' },
  });
  const tasks = jobTasks('preheat', preheat);
  assert.equal(tasks[0]!.taskId, taskIdFor({ url, tag: 't', filterQuery: ['v'] }));
  assert.equal(tasks[1]!.url, 'https://origin.example/b.bin');
  assert.deepEqual(tasks[0]!.headers, { Authorization: 'secret' });
  const byUrl = jobTasks('delete_task', parseJobArgs('delete_task', { url, application: 'app' }));
  assert.equal(byUrl[0]!.taskId, taskIdFor({ url, application: 'app' }));
  assert.deepEqual(jobTasks('find_task', { task_id: 'd'.repeat(64) })[0]!.taskId, 'd'.repeat(64));
  // Header values never come back out of the API.
  assert.deepEqual((redactArgs(preheat) as { headers: object }).headers, { Authorization: REDACTED });
});
