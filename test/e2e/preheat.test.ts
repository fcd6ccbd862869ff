import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pickByRendezvous } from '../../src/core/consistent-hash.js';
import { taskIdFor } from '../../src/core/task.js';
import { sha256File } from '../helpers/files.js';
import { cleanupTempDirs } from '../helpers/tmp.js';
import { type JobsCluster, localTasks, startJobsCluster } from './jobs-cluster.js';

const MIB = 1024 * 1024;
const SIZE = 24 * MIB;

/*
 * Preheat through the manager: the seed peer a task hashes to fetches it from
 * the origin (with the origin headers given to the job), so that a later
 * `warren get` on an ordinary peer pulls nothing from the origin; and
 * all_peers with a count puts a file on exactly that many hosts.
 */
describe('preheat', () => {
  let c: JobsCluster;

  before(async () => {
    c = await startJobsCluster({
      files: [
        { name: 'big.bin', size: SIZE },
        { name: 'spread.bin', size: 8 * MIB },
      ],
      seeds: ['seed-1', 'seed-2'],
      peers: ['peer-1', 'peer-2'],
      // The origin wants a credential: only the preheat's -H carries it.
      origin: { requireHeader: { name: 'x-origin-token', value: 'origin-secret' } },
    });
  });
  after(async () => {
    await c?.stop();
    cleanupTempDirs();
  });

  it('single_seed_peer: the hashed seed fetches the file once; a later get pulls nothing from the origin', async () => {
    const url = c.origin.url('big.bin');
    const taskId = taskIdFor({ url });
    const job = await c.cliJson([
      'preheat',
      url,
      '--scope',
      'single_seed_peer',
      '-H',
      'X-Origin-Token: origin-secret',
      '--wait',
    ]);
    assert.equal(job.state, 'succeeded', job.error);
    assert.equal(job.progress, 1);
    assert.deepEqual(job.args.headers, { 'X-Origin-Token': '<redacted>' });
    const chosen = pickByRendezvous(taskId, ['seed-1', 'seed-2']);
    assert.equal(job.results.length, 1);
    const [result] = job.results;
    assert.equal(result.host, chosen);
    assert.equal(result.is_seed, true);
    assert.equal(result.complete, true);
    assert.equal(result.bytes, SIZE);
    assert.equal(result.peer, `${chosen}/${taskId}`);

    const fromOrigin = c.origin.bytesSent('big.bin');
    assert.ok(
      fromOrigin >= SIZE && fromOrigin <= 1.1 * SIZE,
      `origin sent ${fromOrigin} bytes for the preheat`,
    );
    const seed = c.cluster.peers.get(chosen!)!;
    const held = (await localTasks(seed.socket)).find((t) => t.taskId === taskId);
    assert.ok(held && held.piecesHeld === held.pieceCount, `${chosen} holds the whole task`);
    const other = c.cluster.peers.get(chosen === 'seed-1' ? 'seed-2' : 'seed-1')!;
    assert.ok(
      !(await localTasks(other.socket)).some((t) => t.taskId === taskId),
      'the other seed has nothing',
    );

    // An ordinary peer now gets it from the seed: the origin sends no more (and would refuse it: no header).
    const out = join(c.dir, 'out', 'big.bin');
    await mkdir(join(c.dir, 'out'), { recursive: true });
    const get = await c.cluster.get(c.cluster.peers.get('peer-1')!, url, out);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(await sha256File(out), c.files.get('big.bin'));
    assert.equal(get.json?.piecesFromSource, 0);
    assert.equal(c.origin.bytesSent('big.bin'), fromOrigin, 'the get pulled nothing from the origin');
  });

  it('all_peers with a count: exactly that many hosts hold the whole file', async () => {
    const url = c.origin.url('spread.bin');
    const taskId = taskIdFor({ url });
    const made = await c.manager.call('POST', '/api/v1/jobs', {
      token: c.token,
      body: {
        type: 'preheat',
        args: { urls: [url], scope: 'all_peers', count: 2, headers: { 'x-origin-token': 'origin-secret' } },
      },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const job = await c.cliJson(['job', 'get', made.body.id, '--wait']);
    assert.equal(job.state, 'succeeded', job.error);
    assert.equal(job.results.length, 2);
    const hosts: string[] = job.results.map((r: { host: string }) => r.host);
    for (const r of job.results) assert.equal(r.complete, true);
    for (const [name, peer] of c.cluster.peers) {
      const has = (await localTasks(peer.socket)).some(
        (t) => t.taskId === taskId && t.piecesHeld === t.pieceCount,
      );
      // A seed may also hold it when a chosen peer's download triggered that seed.
      if (hosts.includes(name)) assert.ok(has, `${name} was chosen and holds the file`);
      else if (!name.startsWith('seed')) {
        assert.ok(!has, `${name} was not chosen and does not hold the file`);
        assert.ok(!existsSync(join(peer.dataDir, 'tasks', taskId, 'data')));
      }
    }
    const ls = await c.cli(['job', 'ls', '--type', 'preheat']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, new RegExp(`${made.body.id}\\s+preheat\\s+succeeded\\s+100%`));
  });
});
