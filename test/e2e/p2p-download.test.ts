import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeRandomFile, sha256File } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { killAll } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster } from './cluster.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/*
 * What must be shown 1: one origin, one scheduler, one seed peer and four
 * peers; the four get a 1 KiB, a 50 MiB and a 300 MiB file at once; every
 * output equals the origin's file, and the origin sent each large file at
 * most 1.1 times.
 */
describe('P2P download: four peers, one seed, three files at once', () => {
  let dir: string;
  let origin: Origin;
  let cluster: Cluster;
  const files = [
    { name: 'small.bin', size: KIB },
    { name: 'medium.bin', size: 50 * MIB },
    { name: 'large.bin', size: 300 * MIB },
  ];
  const digests = new Map<string, string>();

  before(async () => {
    dir = tempDir('warren-p2p-');
    await mkdir(join(dir, 'www'), { recursive: true });
    for (const f of files)
      digests.set(f.name, (await makeRandomFile(join(dir, 'www', f.name), f.size)).sha256);
    origin = await startOrigin({ dir: join(dir, 'www') });
    cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    await cluster.startPeer('seed-1', { seed: true });
    for (let i = 1; i <= 4; i++) await cluster.startPeer(`peer-${i}`);
  });

  after(async () => {
    await killAll();
    await origin?.close();
    cleanupTempDirs();
  });

  it('every output is byte-identical and the origin served large files about once', async () => {
    const gets = [];
    for (let i = 1; i <= 4; i++) {
      const peer = cluster.peers.get(`peer-${i}`)!;
      for (const f of files) {
        const out = join(dir, 'out', `peer-${i}`, f.name);
        gets.push(
          (async () => {
            await mkdir(join(dir, 'out', `peer-${i}`), { recursive: true });
            return { f, out, result: await cluster.get(peer, origin.url(f.name), out) };
          })(),
        );
      }
    }
    let fromParents = 0;
    for (const { f, out, result } of await Promise.all(gets)) {
      assert.equal(result.code, 0, `get ${f.name} failed: ${result.stderr}`);
      assert.equal(await sha256File(out), digests.get(f.name), `${out} differs from the origin's ${f.name}`);
      if (f.size > 4 * MIB) fromParents += result.json?.piecesFromParents ?? 0;
    }
    for (const f of files.filter((f) => f.size > 4 * MIB)) {
      const sent = origin.bytesSent(f.name);
      assert.ok(sent <= 1.1 * f.size, `origin sent ${sent} bytes of ${f.name} (${f.size} bytes): over 1.1x`);
    }
    assert.ok(fromParents > 0, 'the peers fetched pieces from parents, not only from the origin');
  });
});
