import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { taskIdFor } from '../../core/task.js';
import { JobKind, JobScope, RunJobRequestSchema } from '../../protocol/gen/scheduler_pb.js';
import { pickSeedHost } from '../seed-selector.js';
import { checkJobRequest, MAX_JOB_TASKS, planTargets } from './job-targets.js';

const url = 'https://origin.example/a.bin';
const t = { url, taskId: taskIdFor({ url }) };
const hosts = { hostIds: ['seed-1', 'seed-2', 'peer-1', 'peer-2'], seedIds: new Set(['seed-1', 'seed-2']) };
const request = (init: Parameters<typeof create<typeof RunJobRequestSchema>>[1]) =>
  create(RunJobRequestSchema, { kind: JobKind.PREHEAT, tasks: [t], ...init });

test('preheat scopes pick the hashed seed, every seed, every host, or the given hosts', () => {
  const single = planTargets(request({ scope: JobScope.SINGLE_SEED_PEER }), hosts);
  assert.deepEqual(single[0]!.hosts, [pickSeedHost(t.taskId, ['seed-1', 'seed-2'])]);
  assert.deepEqual(planTargets(request({ scope: JobScope.ALL_SEED_PEERS }), hosts)[0]!.hosts, [
    'seed-1',
    'seed-2',
  ]);
  assert.deepEqual(planTargets(request({ scope: JobScope.ALL_PEERS }), hosts)[0]!.hosts, hosts.hostIds);
  const some = planTargets(
    request({ scope: JobScope.ALL_PEERS, hostIds: ['peer-2', 'gone', 'peer-2'] }),
    hosts,
  )[0]!;
  assert.deepEqual(some.hosts, ['peer-2']);
  assert.deepEqual(some.missing, ['gone']);
  const none = planTargets(request({ scope: JobScope.SINGLE_SEED_PEER }), {
    hostIds: ['peer-1'],
    seedIds: new Set(),
  });
  assert.deepEqual(none[0]!.hosts, []);
});

test('a preheat skips blocked hosts; find and delete still reach them (they may hold bad data)', () => {
  const blocked = (id: string) => id === 'seed-1' || id === 'peer-1';
  assert.deepEqual(planTargets(request({ scope: JobScope.ALL_SEED_PEERS }), hosts, blocked)[0]!.hosts, [
    'seed-2',
  ]);
  assert.deepEqual(planTargets(request({ scope: JobScope.SINGLE_SEED_PEER }), hosts, blocked)[0]!.hosts, [
    'seed-2',
  ]);
  assert.deepEqual(planTargets(request({ scope: JobScope.ALL_PEERS }), hosts, blocked)[0]!.hosts, [
    'seed-2',
    'peer-2',
  ]);
  const chosen = planTargets(request({ scope: JobScope.ALL_PEERS, hostIds: ['peer-1'] }), hosts, blocked)[0]!;
  assert.deepEqual([chosen.hosts, chosen.missing], [[], ['peer-1']]);
  assert.deepEqual(
    planTargets(request({ kind: JobKind.DELETE_TASK }), hosts, blocked)[0]!.hosts,
    hosts.hostIds,
  );
});

test('find and delete go to every connected host', () => {
  for (const kind of [JobKind.FIND_TASK, JobKind.DELETE_TASK]) {
    assert.deepEqual(planTargets(request({ kind }), hosts)[0]!.hosts, hosts.hostIds);
  }
});

test('refuses malformed jobs with the reason', () => {
  assert.throws(() => checkJobRequest(request({ kind: JobKind.UNSPECIFIED })), /kind is required/);
  assert.throws(() => checkJobRequest(request({ scope: JobScope.UNSPECIFIED })), /needs a scope/);
  assert.throws(() => checkJobRequest(request({ scope: JobScope.ALL_PEERS, tasks: [] })), /1 to 100 tasks/);
  const many = Array.from({ length: MAX_JOB_TASKS + 1 }, () => t);
  assert.throws(() => checkJobRequest(request({ scope: JobScope.ALL_PEERS, tasks: many })), /1 to 100/);
  assert.throws(
    () => checkJobRequest(request({ scope: JobScope.ALL_PEERS, tasks: [{ ...t, taskId: 'abc' }] })),
    /not 64 lowercase hex/,
  );
  assert.throws(
    () => checkJobRequest(request({ scope: JobScope.ALL_PEERS, tasks: [{ ...t, tag: 'other' }] })),
    /does not match url/,
  );
  assert.throws(
    () => checkJobRequest(request({ scope: JobScope.ALL_PEERS, tasks: [{ taskId: t.taskId }] })),
    /needs its url/,
  );
  // Find and delete may name the task by id alone.
  checkJobRequest(request({ kind: JobKind.DELETE_TASK, tasks: [{ taskId: t.taskId }] }));
});
