import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { corruptFile, makeRandomFile, sha256File } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { kill, killAll } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster, metric } from './cluster.js';

const MIB = 1024 * 1024;

/*
 * What must be shown 2: bytes flipped in a piece stored by one peer are
 * caught by the peers that fetch from it; they fetch the piece elsewhere and
 * end with correct output; the bad peer is reported and no longer chosen.
 */
describe('a corrupted piece in a peer store', () => {
  let dir: string;
  let origin: Origin;
  let cluster: Cluster;
  let expected: string;

  before(async () => {
    dir = tempDir('warren-corrupt-');
    await mkdir(join(dir, 'www'), { recursive: true });
    await mkdir(join(dir, 'out'), { recursive: true });
    expected = (await makeRandomFile(join(dir, 'www', 'file.bin'), 50 * MIB)).sha256;
    origin = await startOrigin({ dir: join(dir, 'www') });
    cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    await cluster.startPeer('seed-1', { seed: true });
    for (const name of ['bad', 'child-1', 'child-2']) await cluster.startPeer(name);
  });

  after(async () => {
    await killAll();
    await origin?.close();
    cleanupTempDirs();
  });

  it('is detected, fetched elsewhere, and the bad peer is not chosen again', async () => {
    const url = origin.url('file.bin');
    const bad = cluster.peers.get('bad')!;
    const first = await cluster.get(bad, url, join(dir, 'out', 'bad.bin'));
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await sha256File(join(dir, 'out', 'bad.bin')), expected);

    // Flip bytes in piece 5 of the bad peer's store, then take the seed away
    // so that the bad peer is the only parent holding the content.
    const data = join(bad.dataDir, 'tasks', first.json!.taskId, 'data');
    await corruptFile(data, 5 * 4 * MIB + 1000, 16);
    await kill(cluster.peers.get('seed-1')!.process, 'SIGKILL');

    const child1 = cluster.peers.get('child-1')!;
    const second = await cluster.get(child1, url, join(dir, 'out', 'child-1.bin'));
    assert.equal(second.code, 0, second.stderr);
    assert.equal(
      await sha256File(join(dir, 'out', 'child-1.bin')),
      expected,
      'no corrupted byte in the output',
    );
    assert.ok((await metric(child1.ops, 'warren_bad_pieces_total')) >= 1, 'child-1 detected the bad piece');
    assert.ok(second.json!.piecesFromParents >= 1, 'child-1 did use the bad peer for good pieces first');

    const uploadedBefore = await metric(bad.ops, 'warren_upload_bytes_total');
    const child2 = cluster.peers.get('child-2')!;
    const third = await cluster.get(child2, url, join(dir, 'out', 'child-2.bin'));
    assert.equal(third.code, 0, third.stderr);
    assert.equal(await sha256File(join(dir, 'out', 'child-2.bin')), expected);
    assert.equal(
      await metric(bad.ops, 'warren_upload_bytes_total'),
      uploadedBefore,
      'the reported peer was not chosen as a parent again',
    );
    assert.equal(await metric(child2.ops, 'warren_bad_pieces_total'), 0);
  });
});
