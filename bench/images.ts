/**
 * Image pulls at fleet scale (issue 4), Warren beside a direct pull in the
 * same run:
 *
 * 1. N local peers (N = 1, 4, 8 by default) pull one multi-layer image of
 *    ~500 MiB at once, each through its own peer's registry mirror (a fresh
 *    cluster per N: a scheduler, a seed peer, N peers), vs N clients pulling
 *    the same manifest and blobs straight from the registry at once. The
 *    client is the same in both (manifest, then the blobs 3 at a time like
 *    Docker's max-concurrent-downloads, every byte hashed and checked), so
 *    the comparison is of what serves the bytes. Reported: wall time until the
 *    last client is done and bytes the registry served.
 *    The registry answers through a front that counts its bytes and shares
 *    --registry-mibps (default 200 MiB/s; 0 = unlimited) among all its
 *    clients: a registry across a network, not one on the same loopback.
 * 2. One real `docker pull` (private dockerd) straight from the registry vs
 *    through Warren's mirror, layers extracted included.
 *
 * Run: node --import tsx bench/images.ts [--layers 5] [--layer-mib 100] [--peers 1,4,8] [--runs 1] [--registry-mibps 200] [--no-docker]
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { buildOciImage, type LayerFile } from '../src/core/oci/oci-layout.js';
import { Cluster } from '../test/e2e/cluster.js';
import { startDockerd } from '../test/helpers/docker.js';
import { killAll } from '../test/helpers/processes.js';
import { freePort, pushImage, startRegistry, startRegistryFront } from '../test/helpers/registry.js';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp.js';
import { formatMiB, formatRatio, median } from './lib/stats.js';

const MIB = 1024 * 1024;
const MANIFEST_ACCEPT =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '5' },
    'layer-mib': { type: 'string', default: '100' },
    peers: { type: 'string', default: '1,4,8' },
    runs: { type: 'string', default: '1' },
    'no-docker': { type: 'boolean', default: false },
    'registry-mibps': { type: 'string', default: '200' },
  },
});
const layerCount = Number(values.layers);
const layerSize = Number(values['layer-mib']) * MIB;
const fleet = values.peers.split(',').map(Number);
const runs = Number(values.runs);
const registryRate = Number(values['registry-mibps']) * MIB;

const dir = tempDir('warren-bench-images-');
const agent = new Agent({ connections: 64 });

/** Pulls `repo:tag` from a registry API base like Docker does (manifest, then blobs 3 at a time), checking every digest. */
async function pull(base: string, repo: string, tag: string): Promise<void> {
  const headers: Record<string, string> = {};
  const res = await request(`${base}/v2/${repo}/manifests/${tag}`, {
    dispatcher: agent,
    headers: { ...headers, accept: MANIFEST_ACCEPT },
  });
  if (res.statusCode !== 200) throw new Error(`manifest: HTTP ${res.statusCode} from ${base}`);
  const manifest = (await res.body.json()) as { config: { digest: string }; layers: { digest: string }[] };
  const queue = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
  const worker = async () => {
    for (let digest = queue.shift(); digest; digest = queue.shift()) {
      const blob = await request(`${base}/v2/${repo}/blobs/${digest}`, {
        dispatcher: agent,
        headers,
      });
      if (blob.statusCode !== 200) throw new Error(`${digest}: HTTP ${blob.statusCode} from ${base}`);
      const hash = createHash('sha256');
      for await (const chunk of blob.body) hash.update(chunk as Buffer);
      if (`sha256:${hash.digest('hex')}` !== digest) throw new Error(`${digest}: wrong bytes from ${base}`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

try {
  console.log(`building an image of ${layerCount} × ${layerSize / MIB} MiB layers…`);
  const registry = await startRegistry(join(dir, 'registry'));
  const front = await startRegistryFront(registry, { rateLimitBytesPerSec: registryRate || undefined });
  const busybox: LayerFile[] = [{ path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 }];
  const layers: LayerFile[][] = [busybox];
  for (let i = 0; i < layerCount; i++) layers.push([{ path: `data/${i}.bin`, data: randomBytes(layerSize) }]);
  const image = await buildOciImage(join(dir, 'oci'), '1', layers);
  await pushImage(registry, image, 'library/big', dir);
  const imageBytes = image.blobs.reduce((sum, b) => sum + b.size, 0);
  console.log(
    `image: ${formatMiB(imageBytes)} in ${image.blobs.length} blobs; registry bandwidth ${registryRate ? `${registryRate / MIB} MiB/s` : 'unlimited'}`,
  );
  // Anonymous: what is measured is who serves the bytes, not the auth round trips.
  const registryLines = ['registries:', '  - host: docker.io', `    url: http://${front.host}`];

  const rows: string[] = [];
  for (const n of fleet) {
    const direct: number[] = [];
    const warren: number[] = [];
    let directBytes = 0;
    let warrenBytes = 0;
    for (let run = 1; run <= runs; run++) {
      front.reset();
      direct.push(
        await timed(() =>
          Promise.all(Array.from({ length: n }, () => pull(`http://${front.host}`, 'library/big', '1'))),
        ),
      );
      directBytes = front.bytesSent();

      // A fresh cluster each time: every peer starts cold.
      const cluster = await new Cluster(join(dir, `n${n}-r${run}`)).init();
      await cluster.startScheduler({ WARREN_LOG_LEVEL: 'warn' });
      const mirrors: string[] = [];
      for (let i = 0; i <= n; i++) {
        const seed = i === 0;
        const port = await freePort();
        const config = join(dir, `n${n}-r${run}-${i}.yaml`);
        await writeFile(
          config,
          [...registryLines, ...(seed ? [] : ['mirror:', `  listen: 127.0.0.1:${port}`]), ''].join('\n'),
        );
        await cluster.startPeer(seed ? 'seed' : `peer-${i}`, {
          seed,
          args: ['--config', config],
          env: { WARREN_LOG_LEVEL: 'warn' },
        });
        if (!seed) mirrors.push(`http://127.0.0.1:${port}`);
      }
      front.reset();
      warren.push(await timed(() => Promise.all(mirrors.map((m) => pull(m, 'library/big', '1')))));
      warrenBytes = front.bytesSent();
      await killAll();
    }
    const d = median(direct);
    const w = median(warren);
    console.log(
      `N=${n}: direct ${d.toFixed(1)} s, registry sent ${formatMiB(directBytes)}; ` +
        `Warren ${w.toFixed(1)} s, registry sent ${formatMiB(warrenBytes)}; time ratio ${formatRatio(w / d)}`,
    );
    rows.push(
      `| ${n} | ${d.toFixed(1)} s | ${formatMiB(directBytes)} | ${w.toFixed(1)} s | ${formatMiB(warrenBytes)} | ${formatRatio(w / d)} | ${formatRatio(directBytes / Math.max(1, warrenBytes))} |`,
    );
  }

  if (!values['no-docker']) {
    // One real `docker pull`, layers extracted: a private dockerd whose
    // registry mirror is the registry itself vs one whose mirror is Warren.
    const cluster = await new Cluster(join(dir, 'docker')).init();
    await cluster.startScheduler({ WARREN_LOG_LEVEL: 'warn' });
    const port = await freePort();
    for (const seed of [true, false]) {
      const config = join(dir, `docker-${seed ? 'seed' : 'peer'}.yaml`);
      const mirror = seed ? [] : ['mirror:', `  listen: 127.0.0.1:${port}`];
      await writeFile(config, [...registryLines, ...mirror, ''].join('\n'));
      await cluster.startPeer(seed ? 'seed' : 'peer', {
        seed,
        args: ['--config', config],
        env: { WARREN_LOG_LEVEL: 'warn' },
      });
    }
    const dockerDirect: number[] = [];
    const dockerWarren: number[] = [];
    for (let run = 1; run <= runs; run++) {
      for (const [mirror, into] of [
        [`http://${front.host}`, dockerDirect],
        [`http://127.0.0.1:${port}`, dockerWarren],
      ] as const) {
        const dockerd = await startDockerd(
          join(dir, `dockerd-${into === dockerDirect ? 'direct' : 'warren'}-${run}`),
          { mirror },
        );
        into.push(
          await timed(async () => {
            const r = await dockerd.docker(['pull', 'big:1'], 600_000);
            if (r.code !== 0) throw new Error(`docker pull via ${mirror}: ${r.stderr}`);
          }),
        );
        await dockerd.stop();
      }
    }
    const d = median(dockerDirect);
    const w = median(dockerWarren);
    console.log(
      `docker pull, 1 client: direct ${d.toFixed(1)} s, through Warren ${w.toFixed(1)} s (${formatRatio(w / d)})`,
    );
    rows.push(`| docker pull, 1 | ${d.toFixed(1)} s | | ${w.toFixed(1)} s | | ${formatRatio(w / d)} | |`);
  }

  console.log(
    '\n| N | direct | registry sent | Warren | registry sent | time Warren/direct | registry bytes direct/Warren |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  await front.close();
  await registry.close();
} finally {
  await killAll();
  await agent.close();
  cleanupTempDirs();
}
