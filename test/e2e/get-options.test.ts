import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PeerClient } from '../../src/cli/peer-client.js';
import { makeRandomFile, sha256File } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { killAll } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster, metric, type PeerProcess } from './cluster.js';

const MIB = 1024 * 1024;
const SECRET = 'Bearer s3cr3t-origin-token';

/* `warren get` options: origin headers, task identity (tag, filtered query), small files. */
describe('warren get options', () => {
  let dir: string;
  let origin: Origin;
  let cluster: Cluster;
  let peer: PeerProcess;
  let seed: PeerProcess;

  before(async () => {
    dir = tempDir('warren-getopts-');
    await mkdir(join(dir, 'www'), { recursive: true });
    await mkdir(join(dir, 'out'), { recursive: true });
    await makeRandomFile(join(dir, 'www', 'big.bin'), 12 * MIB);
    await makeRandomFile(join(dir, 'www', 'tiny.bin'), 1000);
    origin = await startOrigin({
      dir: join(dir, 'www'),
      requireHeader: { name: 'authorization', value: SECRET },
    });
    cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    seed = await cluster.startPeer('seed-1', { seed: true });
    peer = await cluster.startPeer('peer-1');
  });

  after(async () => {
    await killAll();
    await origin?.close();
    cleanupTempDirs();
  });

  it('passes -H headers to the origin through the seed peer, and never stores them', async () => {
    const out = join(dir, 'out', 'big.bin');
    const denied = await cluster.get(peer, origin.url('big.bin'), out, ['--tag', 'no-header']);
    assert.notEqual(denied.code, 0, 'without the header the origin refuses');
    assert.match(denied.stderr, /403/);
    assert.deepEqual(await readdir(join(dir, 'out')), [], 'a failed get leaves no file');

    const ok = await cluster.get(peer, origin.url('big.bin'), out, ['-H', `Authorization: ${SECRET}`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await sha256File(out), await sha256File(join(dir, 'www', 'big.bin')));
    assert.ok(ok.json!.piecesFromParents > 0, 'pieces came from the seed peer');
    for (const p of [peer, seed]) {
      const meta = await readFile(join(p.dataDir, 'tasks', ok.json!.taskId, 'meta.json'), 'utf8');
      assert.ok(!meta.includes('s3cr3t'), `${p.name} stored no origin header`);
    }
  });

  it('fetches content of at most 4 MiB straight from the origin', async () => {
    const out = join(dir, 'out', 'tiny.bin');
    const before = origin.requests('tiny.bin');
    const fromSource = await metric(peer.ops, 'warren_download_bytes_total', { from: 'source' });
    const fromParents = await metric(peer.ops, 'warren_download_bytes_total', { from: 'parent' });
    const result = await cluster.get(peer, origin.url('tiny.bin'), out, ['-H', `Authorization: ${SECRET}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha256File(out), await sha256File(join(dir, 'www', 'tiny.bin')));
    assert.equal(
      (await metric(peer.ops, 'warren_download_bytes_total', { from: 'source' })) - fromSource,
      1000,
      'the peer fetched it from the origin itself',
    );
    assert.equal(await metric(peer.ops, 'warren_download_bytes_total', { from: 'parent' }), fromParents);
    assert.ok(origin.requests('tiny.bin') > before);
  });

  it('on a group socket (0660) the peer writes no file for the caller: get streams the content', async () => {
    const shared = await cluster.startPeer('peer-group', {
      env: { WARREN_SOCKET_GROUP: String(process.getgid?.() ?? 0) },
    });
    assert.equal((await stat(shared.socket)).mode & 0o777, 0o660);
    const out = join(dir, 'out', 'streamed.bin');
    const result = await cluster.get(shared, origin.url('big.bin'), out, [
      '-H',
      `Authorization: ${SECRET}`,
      '--digest',
      `sha256:${await sha256File(join(dir, 'www', 'big.bin'))}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha256File(out), await sha256File(join(dir, 'www', 'big.bin')));
    const client = new PeerClient(shared.socket);
    await assert.rejects(
      client.json('POST', `/v1/tasks/${result.json!.taskId}/export`, { path: join(dir, 'out', 'x.bin') }),
      { code: 'EXPORT_NOT_ALLOWED' },
    );
    await client.close();
  });

  it('--filter-query leaves a parameter out of the task id; --tag makes another task', async () => {
    const auth = ['-H', `Authorization: ${SECRET}`];
    const a = await cluster.get(peer, `${origin.url('big.bin')}?token=1`, join(dir, 'out', 'a.bin'), [
      ...auth,
      '--filter-query',
      'token',
    ]);
    const b = await cluster.get(peer, `${origin.url('big.bin')}?token=2`, join(dir, 'out', 'b.bin'), [
      ...auth,
      '--filter-query',
      'token',
    ]);
    const c = await cluster.get(peer, origin.url('big.bin'), join(dir, 'out', 'c.bin'), [
      ...auth,
      '--tag',
      'v2',
    ]);
    for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr);
    assert.equal(a.json!.taskId, b.json!.taskId, 'same task whatever the filtered parameter');
    assert.notEqual(c.json!.taskId, a.json!.taskId, 'a tag makes a different task');
    assert.equal(
      b.json!.piecesFromParents + b.json!.piecesFromSource,
      0,
      'the second get found the task held',
    );
  });
});
