import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { taskIdFor } from '../../src/core/task.js';
import { sha256File } from '../helpers/files.js';
import { cleanupTempDirs } from '../helpers/tmp.js';
import { type JobsCluster, localTasks, startJobsCluster } from './jobs-cluster.js';

const MIB = 1024 * 1024;
const SIZE = 12 * MIB;

/*
 * Threat 6 ("clean dirty data"): find_task lists exactly the peers that hold
 * a task, delete_task removes it from every one of them (their task lists and
 * their disks), and a later get fetches it from the origin again.
 */
describe('find and delete a task across the cluster', () => {
  let c: JobsCluster;
  let url: string;
  let taskId: string;
  const holders = ['seed-1', 'peer-1', 'peer-2'];

  before(async () => {
    c = await startJobsCluster({
      files: [{ name: 'dirty.bin', size: SIZE }],
      seeds: ['seed-1'],
      peers: ['peer-1', 'peer-2', 'peer-3'],
    });
    url = c.origin.url('dirty.bin');
    taskId = taskIdFor({ url });
    await mkdir(join(c.dir, 'out'), { recursive: true });
    for (const name of ['peer-1', 'peer-2']) {
      const get = await c.cluster.get(c.cluster.peers.get(name)!, url, join(c.dir, 'out', `${name}.bin`));
      assert.equal(get.code, 0, get.stderr);
    }
  });
  after(async () => {
    await c?.stop();
    cleanupTempDirs();
  });

  const holdersOf = (rows: Array<{ host: string }>) => rows.map((r) => r.host).sort();

  it('find_task lists exactly the holders, by URL (CLI) and by task id (REST)', async () => {
    assert.deepEqual(holdersOf(await c.cliJson(['task', 'find', url])), [...holders].sort());
    const made = await c.manager.call('POST', '/api/v1/jobs', {
      token: c.token,
      body: { type: 'find_task', args: { task_id: taskId } },
    });
    const job = await c.cliJson(['job', 'get', made.body.id, '--wait']);
    assert.equal(job.state, 'succeeded', job.error);
    assert.equal(job.results.length, 4, 'every connected host answered');
    const held = job.results.filter((r: { has_task: boolean }) => r.has_task);
    assert.deepEqual(holdersOf(held), [...holders].sort());
    for (const r of held) {
      assert.equal(r.complete, true);
      assert.equal(r.bytes, SIZE);
      assert.equal(r.peer, `${r.host}/${taskId}`);
    }
  });

  it('delete_task removes the task from every peer that holds it; a later get works from the origin', async () => {
    const job = await c.cliJson(['task', 'rm', '--everywhere', url]);
    assert.equal(job.state, 'succeeded', job.error);
    const hadIt = job.results.filter((r: { has_task: boolean }) => r.has_task);
    assert.deepEqual(holdersOf(hadIt), [...holders].sort());
    for (const peer of c.cluster.peers.values()) {
      assert.ok(
        !(await localTasks(peer.socket)).some((t) => t.taskId === taskId),
        `${peer.name} still lists it`,
      );
      assert.ok(!existsSync(join(peer.dataDir, 'tasks', taskId)), `${peer.name} still has it on disk`);
    }
    assert.deepEqual(await c.cliJson(['task', 'find', taskId]), [], 'nobody holds it any more');

    c.origin.reset();
    const out = join(c.dir, 'out', 'again.bin');
    const get = await c.cluster.get(c.cluster.peers.get('peer-3')!, url, out);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(await sha256File(out), c.files.get('dirty.bin'));
    const sent = c.origin.bytesSent('dirty.bin');
    assert.ok(sent >= SIZE && sent <= 1.1 * SIZE, `the origin sent the file again (${sent} bytes)`);
    const audit = await c.manager.call('GET', '/api/v1/audit?action=job.create', { token: c.token });
    assert.ok(
      audit.body.items.some((e: { detail: { type: string } }) => e.detail.type === 'delete_task'),
      'the deletion is in the audit log',
    );
  });

  it('warren peer block / blocklist / unblock manage the blocklist (and warren peer still runs daemons)', async () => {
    const blocked = await c.cliJson(['peer', 'block', 'peer-2', '--reason', 'served dirty data']);
    assert.deepEqual(
      blocked.map((e: { host: string; reason: string }) => [e.host, e.reason]),
      [['peer-2', 'served dirty data']],
    );
    const listed = await c.cliJson(['peer', 'blocklist']);
    assert.deepEqual(
      listed.map((e: { host: string }) => e.host),
      ['peer-2'],
    );
    const unblocked = await c.cli(['peer', 'unblock', 'peer-2']);
    assert.equal(unblocked.code, 0, unblocked.stderr);
    assert.equal(unblocked.stdout.trim(), 'unblocked peer-2');
    assert.deepEqual(await c.cliJson(['peer', 'blocklist']), []);
    const missing = await c.cli(['peer', 'unblock', 'peer-2']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not on the blocklist \[NOT_BLOCKED\]/);
  });
});
