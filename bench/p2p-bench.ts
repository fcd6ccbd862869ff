/**
 * P2P data-path benchmarks (issue 2), each against a baseline in the same run:
 *
 * 1. warm: `warren get` of a file already held by another peer (over mTLS)
 *    vs `curl` over HTTPS from nginx serving the same file. Target: ≥ 0.6×
 *    curl's throughput.
 * 2. cold: `warren get` through the seed peer from an origin limited to
 *    50 MiB/s (all connections together) vs `curl` straight from that origin.
 *    Target: ≤ 1.05× curl's time.
 * 3. peak RSS of the downloading peer daemon over the warm runs. Target ≤ 150 MiB.
 *
 * Run: node --import tsx bench/p2p-bench.ts [--size-mib 2048] [--cold-mib 1024] [--runs 3]
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster } from '../test/e2e/cluster.js';
import { makeRandomFile, sha256File } from '../test/helpers/files.js';
import { startOrigin } from '../test/helpers/origin.js';
import { kill, killAll } from '../test/helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp.js';
import { curlDownload } from './lib/curl.js';
import { startNginx } from './lib/nginx.js';
import { formatRate, formatRatio, median, peakRss } from './lib/stats.js';

const MIB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '2048' },
    'cold-mib': { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
  },
});
const size = Number(values['size-mib']) * MIB;
const coldSize = Number(values['cold-mib']) * MIB;
const runs = Number(values.runs);

const dir = tempDir('warren-bench-');
const www = join(dir, 'www');
const out = join(dir, 'out');
await mkdir(www, { recursive: true });
await mkdir(out, { recursive: true });

try {
  console.log(`making ${size / MIB} MiB and ${coldSize / MIB} MiB files…`);
  const warm = await makeRandomFile(join(www, 'warm.bin'), size);
  await makeRandomFile(join(www, 'cold.bin'), coldSize);

  const cluster = await new Cluster(dir).init();
  await cluster.startScheduler();
  await cluster.startPeer('seed-1', { seed: true, env: { WARREN_LOG_LEVEL: 'warn' } });
  const holder = await cluster.startPeer('holder', { env: { WARREN_LOG_LEVEL: 'warn' } });
  const origin = await startOrigin({ dir: www });
  const nginxTls = await cluster.ca.issue('peer', 'nginx');
  const nginx = await startNginx({
    root: www,
    tls: { certFile: join(nginxTls.dir, 'tls.crt'), keyFile: join(nginxTls.dir, 'tls.key') },
  });

  // The holder gets the warm file once; the seed then goes away so that the
  // measured peer fetches every piece from the holder: one parent, one stream of pieces.
  const first = await cluster.get(holder, origin.url('warm.bin'), join(out, 'holder.bin'));
  if (first.code !== 0) throw new Error(first.stderr);
  await rm(join(out, 'holder.bin'));
  await kill(cluster.peers.get('seed-1')!.process, 'SIGTERM');

  const warren: number[] = [];
  const curl: number[] = [];
  let rss = 0;
  for (let run = 1; run <= runs; run++) {
    const c = await curlDownload(nginx.url('warm.bin'), join(out, 'curl.bin'), {
      cacert: join(nginxTls.dir, 'ca.crt'),
    });
    curl.push(c.seconds);
    await rm(join(out, 'curl.bin'));
    const peer = await cluster.startPeer(`warm-${run}`, { env: { WARREN_LOG_LEVEL: 'warn' } });
    const started = performance.now();
    const result = await cluster.get(peer, origin.url('warm.bin'), join(out, 'warren.bin'));
    const seconds = (performance.now() - started) / 1000;
    if (result.code !== 0) throw new Error(result.stderr);
    if (run === 1 && (await sha256File(join(out, 'warren.bin'))) !== warm.sha256)
      throw new Error('warm output differs');
    warren.push(seconds);
    rss = Math.max(rss, peakRss(peer.process.pid!) ?? 0);
    await rm(join(out, 'warren.bin'));
    console.log(`warm run ${run}: curl ${c.seconds.toFixed(2)} s, warren get ${seconds.toFixed(2)} s`);
  }

  await cluster.startPeer('seed-2', { seed: true, env: { WARREN_LOG_LEVEL: 'warn' } });
  origin.setRateLimit(50 * MIB);
  const coldWarren: number[] = [];
  const coldCurl: number[] = [];
  for (let run = 1; run <= runs; run++) {
    const c = await curlDownload(origin.url('cold.bin'), join(out, 'curl.bin'));
    coldCurl.push(c.seconds);
    await rm(join(out, 'curl.bin'));
    const peer = await cluster.startPeer(`cold-${run}`, { env: { WARREN_LOG_LEVEL: 'warn' } });
    const started = performance.now();
    // A new tag makes a new task: the seed peer must go back to the origin.
    const result = await cluster.get(peer, origin.url('cold.bin'), join(out, 'warren.bin'), [
      '--tag',
      `run-${run}`,
    ]);
    const seconds = (performance.now() - started) / 1000;
    if (result.code !== 0) throw new Error(result.stderr);
    coldWarren.push(seconds);
    await rm(join(out, 'warren.bin'));
    console.log(`cold run ${run}: curl ${c.seconds.toFixed(2)} s, warren get ${seconds.toFixed(2)} s`);
  }
  await nginx.stop();
  await origin.close();

  const warmRatio = median(curl) / median(warren);
  const coldRatio = median(coldWarren) / median(coldCurl);
  console.log('\n| benchmark | Warren (median) | baseline (median) | ratio | target |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| warm ${size / MIB} MiB from a peer, mTLS vs curl HTTPS from nginx | ${formatRate(size / median(warren))} | ${formatRate(size / median(curl))} | ${formatRatio(warmRatio)} of curl's throughput | ≥ 0.6× |`,
  );
  console.log(
    `| cold ${coldSize / MIB} MiB through the seed, origin at 50 MiB/s vs curl from the origin | ${median(coldWarren).toFixed(2)} s | ${median(coldCurl).toFixed(2)} s | ${formatRatio(coldRatio)} of curl's time | ≤ 1.05× |`,
  );
  console.log(
    `| peer daemon peak RSS moving ${size / MIB} MiB | ${(rss / MIB).toFixed(0)} MiB | | | ≤ 150 MiB |`,
  );
  console.log('\n(wall times include starting the `warren get` process; runs:', runs, ')');
} finally {
  await killAll();
  cleanupTempDirs();
}
