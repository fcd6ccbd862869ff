import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { pickByRendezvous } from '../../src/core/consistent-hash.js';
import { taskIdFor } from '../../src/core/task.js';
import { createSchedulerClient, type SchedulerClient } from '../../src/protocol/scheduler-client.js';
import { makeRandomFile, sha256File } from '../helpers/files.js';
import { startTestManager, type TestManager } from '../helpers/manager.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { killAll } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster } from './cluster.js';

const MIB = 1024 * 1024;
const SCHEDULERS = ['scheduler-a', 'scheduler-b'];

/** Polls `check` until it returns true or the deadline passes. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/*
 * Two schedulers, a seed peer and two peers that know only the manager: the
 * schedulers register through Sync, the peers get both from the manager and
 * send each task to the scheduler its task ID hashes to — every peer, every
 * time — while the seed keeps a host stream to both.
 */
describe('discovery through the manager: tasks spread over two schedulers by consistent hashing', () => {
  let dir: string;
  let origin: Origin;
  let manager: TestManager;
  let cluster: Cluster;
  const stats: SchedulerClient[] = [];
  const files: Array<{ name: string; url: string; taskId: string; sha256: string; expected: string }> = [];

  before(async () => {
    dir = tempDir('warren-discovery-');
    const www = join(dir, 'www');
    await mkdir(www, { recursive: true });
    origin = await startOrigin({ dir: www });
    // Names chosen so that each scheduler gets two tasks (task IDs depend on the origin's port).
    const perScheduler = new Map(SCHEDULERS.map((s) => [s, 0]));
    for (let i = 0; files.length < 4; i++) {
      const name = `f${i}.bin`;
      const url = origin.url(name);
      const taskId = taskIdFor({ url });
      const expected = pickByRendezvous(taskId, SCHEDULERS)!;
      if (perScheduler.get(expected)! >= 2) continue;
      perScheduler.set(expected, perScheduler.get(expected)! + 1);
      const { sha256 } = await makeRandomFile(join(www, name), 6 * MIB);
      files.push({ name, url, taskId, sha256, expected });
    }
    manager = await startTestManager({
      flags: { 'keepalive.interval': '500ms', 'keepalive.inactiveAfter': '5s', 'cache.refresh': '300ms' },
    });
    cluster = new Cluster(dir).useManager(manager.manager);
    for (const name of SCHEDULERS) await cluster.startScheduler({}, name);
    const clusters = manager.manager.ctx.clusters;
    await eventually('both schedulers registered and active', () =>
      SCHEDULERS.every((id) => clusters.components().some((c) => c.id === id && c.state === 'active')),
    );
    await cluster.startPeer('seed-1', { seed: true });
    await cluster.startPeer('peer-1');
    await cluster.startPeer('peer-2');
    const probe = await cluster.ca.issue('peer', 'probe');
    for (const name of SCHEDULERS) {
      stats.push(
        createSchedulerClient({ address: cluster.schedulers.get(name)!.address, tls: probe.material }),
      );
    }
  });

  after(async () => {
    for (const c of stats) c.close();
    await killAll();
    await manager?.stop();
    await origin?.close();
    cleanupTempDirs();
  });

  /** Peers of the task each scheduler knows (0 when it does not know the task). */
  async function peersPerScheduler(taskId: string): Promise<number[]> {
    return Promise.all(
      stats.map((client) =>
        client.statTask({ taskId }).then(
          (r) => r.peerCount,
          (err) => {
            if (ConnectError.from(err).code === Code.NotFound) return 0;
            throw err;
          },
        ),
      ),
    );
  }

  it('registers the schedulers and the seed, not the peers', () => {
    const ids = manager.manager.ctx.clusters.components().map((c) => `${c.role}:${c.id}`);
    assert.deepEqual(ids.sort(), ['scheduler:scheduler-a', 'scheduler:scheduler-b', 'seed:seed-1']);
  });

  it('every peer sends a task to the scheduler its ID hashes to, and only to that one', async () => {
    for (const peerName of ['peer-1', 'peer-2']) {
      const peer = cluster.peers.get(peerName)!;
      const gets = files.map(async (f) => {
        const out = join(dir, 'out', peerName, f.name);
        await mkdir(join(dir, 'out', peerName), { recursive: true });
        const result = await cluster.get(peer, f.url, out);
        assert.equal(result.code, 0, `get ${f.name} through ${peerName}: ${result.stderr}`);
        assert.equal(await sha256File(out), f.sha256);
        return result;
      });
      await Promise.all(gets);
      for (const f of files) {
        const counts = await peersPerScheduler(f.taskId);
        const at = SCHEDULERS.indexOf(f.expected);
        assert.equal(counts[1 - at], 0, `${f.name}: the other scheduler knows the task (${counts})`);
        assert.ok(counts[at]! >= 1, `${f.name}: ${f.expected} does not know the task (${counts})`);
      }
    }
    // Both peers (and the seed, triggered by whichever scheduler owns the task) met on one scheduler.
    for (const f of files) {
      const counts = await peersPerScheduler(f.taskId);
      assert.ok(counts[SCHEDULERS.indexOf(f.expected)]! >= 2, `${f.name}: ${counts}`);
    }
    assert.ok(origin.bytesSent() <= 1.1 * files.length * 6 * MIB, 'the origin sent each file about once');
  });
});
