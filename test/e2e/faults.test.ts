import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PeerClient } from '../../src/cli/peer-client.js';
import { makeRandomFile, sha256File } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { kill, killAll } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster, metric } from './cluster.js';

const MIB = 1024 * 1024;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/* What must be shown 3: SIGKILL of the seed peer, and of a peer mid-download. */
describe('faults', () => {
  let origin: Origin | undefined;

  afterEach(async () => {
    await killAll();
    await origin?.close();
    origin = undefined;
  });
  after(() => cleanupTempDirs());

  it('peers still finish when the seed peer is killed mid-transfer', async () => {
    const dir = tempDir('warren-seedkill-');
    await mkdir(join(dir, 'www'), { recursive: true });
    await mkdir(join(dir, 'out'), { recursive: true });
    const size = 100 * MIB;
    const expected = (await makeRandomFile(join(dir, 'www', 'file.bin'), size)).sha256;
    origin = await startOrigin({ dir: join(dir, 'www'), rateLimitBytesPerSec: 40 * MIB });
    const cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    const seed = await cluster.startPeer('seed-1', { seed: true });
    const peers = [];
    for (let i = 1; i <= 3; i++) peers.push(await cluster.startPeer(`peer-${i}`));

    const url = origin.url('file.bin');
    const gets = peers.map((p) => cluster.get(p, url, join(dir, 'out', `${p.name}.bin`)));
    await until('the seed to hold a third of the file', async () => {
      return (
        (await metric(seed.ops, 'warren_download_bytes_total', { from: 'source' }).catch(() => 0)) >= size / 3
      );
    });
    await kill(seed.process, 'SIGKILL');

    for (const [i, result] of (await Promise.all(gets)).entries()) {
      assert.equal(result.code, 0, `peer-${i + 1}: ${result.stderr}`);
      assert.equal(await sha256File(join(dir, 'out', `peer-${i + 1}.bin`)), expected);
    }
  });

  it('a peer killed mid-download resumes without fetching its verified pieces again', async () => {
    const dir = tempDir('warren-peerkill-');
    await mkdir(join(dir, 'www'), { recursive: true });
    await mkdir(join(dir, 'out'), { recursive: true });
    const size = 80 * MIB; // 20 pieces of 4 MiB
    const expected = (await makeRandomFile(join(dir, 'www', 'file.bin'), size)).sha256;
    origin = await startOrigin({ dir: join(dir, 'www'), rateLimitBytesPerSec: 30 * MIB });
    const cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    const seed = await cluster.startPeer('seed-1', { seed: true });
    const peer = await cluster.startPeer('peer-1');
    const url = origin.url('file.bin');

    const interrupted = cluster.get(peer, url, join(dir, 'out', 'first.bin'));
    const client = new PeerClient(peer.socket);
    let held = 0;
    await until('the peer to hold 6 pieces', async () => {
      const { tasks } = await client.json<{ tasks: { piecesHeld: number }[] }>('GET', '/v1/tasks');
      held = tasks[0]?.piecesHeld ?? 0;
      return held >= 6;
    });
    await client.close();
    await kill(peer.process, 'SIGKILL');
    const failed = await interrupted;
    assert.notEqual(failed.code, 0, 'the get whose peer died fails');

    const restarted = await cluster.restart(peer);
    const uploadedBefore = await metric(seed.ops, 'warren_upload_bytes_total');
    const result = await cluster.get(restarted, url, join(dir, 'out', 'second.bin'));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha256File(join(dir, 'out', 'second.bin')), expected);
    const json = result.json!;
    assert.ok(
      json.piecesResumed >= held,
      `resumed ${json.piecesResumed} pieces, held ${held} before the kill`,
    );
    assert.equal(
      json.piecesResumed + json.piecesFromParents + json.piecesFromSource,
      20,
      'each piece fetched once',
    );
    const uploaded = (await metric(seed.ops, 'warren_upload_bytes_total')) - uploadedBefore;
    assert.ok(
      uploaded <= (20 - json.piecesResumed) * 4 * MIB,
      `seed uploaded ${uploaded} bytes after the restart`,
    );
  });
});
