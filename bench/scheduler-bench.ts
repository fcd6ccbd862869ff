/**
 * Scheduler benchmark: 1,000 peers join one task whose seed has reported the
 * manifest. The scheduler runs as `bin/warren scheduler` in a child process
 * (so its memory is its own); peers are simulated here over real mTLS HTTP/2,
 * HOSTS connections with one AnnouncePeer stream per peer.
 *
 * Measures, per peer, the time from sending `register` to receiving `parents`
 * (client-side, includes the network and this process's own event loop), the
 * scheduler's in-process decision time (its histogram), and the scheduler's
 * peak RSS (VmHWM). Targets: decision p99 <= 5 ms, RSS <= 300 MiB.
 *
 *   node --import tsx bench/scheduler-bench.ts
 *   WARREN_BIN=path/to/entry.ts ...   run another entry point (a .ts file runs through tsx)
 *   BENCH_SCHEDULER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'   node flags for the scheduler
 *   BENCH_PEERS=200 BENCH_CONCURRENCY=1   a smaller or sequential run
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { AsyncQueue } from '../src/core/async-queue.js';
import { pieceCount, pieceLengthFor, taskIdFor } from '../src/core/task.js';
import { writeTlsDir } from '../src/core/tls.js';
import type { AnnouncePeerRequestSchema, AnnouncePeerResponse } from '../src/protocol/gen/scheduler_pb.js';
import { createSchedulerClient, type SchedulerClient } from '../src/protocol/scheduler-client.js';
import { hostOf, makePki, StreamReader } from '../src/scheduler/test-support.js';

const PEERS = Number(process.env.BENCH_PEERS ?? 1000);
const HOSTS = 20;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const CONTENT_LENGTH = 2 * 1024 ** 3;
const TARGET_P99_MS = 5;
const TARGET_RSS_MIB = 300;

type Request = MessageInitShape<typeof AnnouncePeerRequestSchema>;

interface Peer {
  requests: AsyncQueue<Request>;
  reader: StreamReader<AnnouncePeerResponse>;
}

async function main(): Promise<void> {
  const pki = await makePki('warren-bench-');
  const child = { process: undefined as ChildProcess | undefined };
  const clients: SchedulerClient[] = [];
  try {
    const tlsDir = join(pki.dir, 'scheduler');
    writeTlsDir(tlsDir, await pki.issue('scheduler', 'scheduler'));
    const config = join(pki.dir, 'scheduler.yaml');
    writeFileSync(config, schedulerYaml(tlsDir));
    const started = await startScheduler(config);
    child.process = started.child;
    const idle = procStatus(started.child.pid!);
    const address = started.listening;
    const connect = async (role: 'peer' | 'seed', name: string) => {
      const c = createSchedulerClient({ address, tls: await pki.issue(role, name) });
      clients.push(c);
      return c;
    };

    const url = 'https://origin.example/bench/2GiB.bin';
    const taskId = taskIdFor({ url });
    const seedClient = await connect('seed', 'seed-1');
    await seedTaskReady(seedClient, url, taskId);

    const hosts: SchedulerClient[] = [];
    for (let h = 0; h < HOSTS; h++) {
      const c = await connect('peer', hostName(h));
      await new StreamReader(c.announceHost({ host: hostOf(hostName(h), { uploadLimit: 500 }) })).next();
      hosts.push(c);
    }

    const peers: Peer[] = [];
    const latencies: number[] = [];
    const joinStarted = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < PEERS) {
        const i = next++;
        const { peer, ms } = await joinPeer(hosts[i % HOSTS]!, hostName(i % HOSTS), url, taskId, i);
        peers.push(peer);
        latencies.push(ms);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const joinSeconds = (performance.now() - joinStarted) / 1000;

    const metrics = await fetch(`http://${started.ops}/metrics`).then((r) => r.text());
    const decision = histogram(metrics, 'warren_scheduler_decision_seconds');
    const memory = procStatus(started.child.pid!);
    report({
      latencies,
      joinSeconds,
      decision,
      memory,
      idleRssMiB: idle.vmRssMiB,
      peersGauge: gauge(metrics, 'warren_scheduler_peers'),
    });
    for (const peer of peers) peer.requests.close();
  } finally {
    for (const c of clients) c.close();
    await stopChild(child.process);
    pki.cleanup();
  }
}

/** The seed registers the task (new task: back to source), reports its shape and every digest. */
async function seedTaskReady(seed: SchedulerClient, url: string, taskId: string): Promise<void> {
  await new StreamReader(
    seed.announceHost({ host: hostOf('seed-1', { isSeed: true, uploadLimit: 200 }) }),
  ).next();
  const requests = new AsyncQueue<Request>();
  const reader = new StreamReader(seed.announcePeer(requests));
  requests.push({
    message: {
      case: 'register',
      value: {
        taskId,
        url,
        peerId: `seed-1/${taskId}`,
        host: hostOf('seed-1', { isSeed: true, uploadLimit: 200 }),
      },
    },
  });
  const first = await reader.next();
  if (first.message.case !== 'backToSource') throw new Error(`seed got ${first.message.case}`);
  const pieceLength = pieceLengthFor(CONTENT_LENGTH);
  const count = pieceCount(CONTENT_LENGTH, pieceLength);
  requests.push({
    message: {
      case: 'taskInfo',
      value: { contentLength: BigInt(CONTENT_LENGTH), pieceLength, pieceCount: count },
    },
  });
  for (let n = 0; n < count; n++) {
    const sha256 = new Uint8Array(32).fill(n % 256);
    requests.push({ message: { case: 'pieceFinished', value: { number: n, sha256 } } });
  }
}

/** One peer joins: opens its stream, registers, waits for manifest then parents. */
async function joinPeer(client: SchedulerClient, host: string, url: string, taskId: string, i: number) {
  const requests = new AsyncQueue<Request>();
  const reader = new StreamReader(client.announcePeer(requests));
  const started = performance.now();
  requests.push({
    message: {
      case: 'register',
      value: { taskId, url, peerId: `${host}/${taskId}/${i}`, host: hostOf(host, { uploadLimit: 500 }) },
    },
  });
  for (;;) {
    const message = (await reader.next(10_000)).message;
    if (message.case === 'parents') return { peer: { requests, reader }, ms: performance.now() - started };
    if (message.case === 'backToSource')
      throw new Error(`peer ${i} sent back to source: ${message.value.reason}`);
  }
}

function hostName(h: number): string {
  return `bench-host-${String(h).padStart(2, '0')}`;
}

function schedulerYaml(tlsDir: string): string {
  return [
    'listen: 127.0.0.1:0',
    'opsListen: 127.0.0.1:0',
    `tlsDir: ${tlsDir}`,
    'logLevel: warn',
    'limits: { maxPeersPerTask: 5000, maxStreamsPerConnection: 1000 }',
    'rateLimit: { messagesPerSecond: 100000, burst: 100000 }',
    '',
  ].join('\n');
}

/** Starts the scheduler process and reads the one JSON line it prints once listening. */
async function startScheduler(config: string) {
  const bin = process.env.WARREN_BIN ?? join(import.meta.dirname, '..', 'bin', 'warren');
  const nodeArgs = (process.env.BENCH_SCHEDULER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const loader = /\.m?ts$/.test(bin) ? ['--import', 'tsx'] : [];
  const args = [...nodeArgs, ...loader, bin, 'scheduler', '--config', config];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  // Other stdout lines (node flags such as --trace-gc write there) go to stderr;
  // stdout is drained to the end so that the child never blocks on a full pipe.
  const first = await new Promise<{ listening: string; ops: string }>((resolve, reject) => {
    let found = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = found ? undefined : parseListening(line);
      if (parsed) {
        found = true;
        resolve(parsed);
      } else {
        process.stderr.write(`[scheduler stdout] ${line}\n`);
      }
    });
    child.once('exit', (code: number | null) => reject(new Error(`scheduler exited with ${code}`)));
  });
  const { listening, ops } = first;
  return { child, listening, ops };
}

function parseListening(line: string): { listening: string; ops: string } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as { listening?: string; ops?: string };
    return value.listening && value.ops ? { listening: value.listening, ops: value.ops } : undefined;
  } catch {
    return undefined; // a log-like line, not the address line
  }
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Cumulative buckets of a Prometheus histogram, with the quantiles they bound. */
function histogram(text: string, name: string) {
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"[^}]*\\} (\\d+)`, 'gm'))].map(
    (m) => ({ le: Number(m[1]), count: Number(m[2]) }),
  );
  const count = Number(new RegExp(`^${name}_count\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const sum = Number(new RegExp(`^${name}_sum\\{[^}]*\\} ([\\d.e+-]+)`, 'm').exec(text)?.[1] ?? 0);
  const quantile = (q: number) => buckets.find((b) => b.count >= q * count)?.le ?? Number.NaN;
  return {
    count,
    meanMs: (sum / count) * 1000,
    p50Ms: quantile(0.5) * 1000,
    p99Ms: quantile(0.99) * 1000,
    buckets,
  };
}

function gauge(text: string, name: string): number {
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
}

function procStatus(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { vmHwmMiB: kib('VmHWM') / 1024, vmRssMiB: kib('VmRSS') / 1024 };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function report(r: {
  latencies: number[];
  joinSeconds: number;
  decision: ReturnType<typeof histogram>;
  memory: ReturnType<typeof procStatus>;
  idleRssMiB: number;
  peersGauge: number;
}): void {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(2);
  const rows: [string, string, string][] = [
    ['register → parents p50 (client, ms)', f(percentile(sorted, 0.5)), ''],
    ['register → parents p99 (client, ms)', f(percentile(sorted, 0.99)), ''],
    ['register → parents max (client, ms)', f(sorted[sorted.length - 1]!), ''],
    ['decision p50 (scheduler, ms, bucket bound)', f(r.decision.p50Ms), ''],
    ['decision p99 (scheduler, ms, bucket bound)', f(r.decision.p99Ms), `<= ${TARGET_P99_MS}`],
    ['decision mean (scheduler, ms)', r.decision.meanMs.toFixed(3), ''],
    ['scheduler RSS when idle after start (MiB)', f(r.idleRssMiB), ''],
    ['scheduler peak RSS (VmHWM, MiB)', f(r.memory.vmHwmMiB), `<= ${TARGET_RSS_MIB}`],
  ];
  console.log(
    `\nScheduler benchmark: ${PEERS} peers, ${HOSTS} hosts, one task, ${CONCURRENCY} joins in flight`,
  );
  console.log(`${'measure'.padEnd(46)}${'value'.padStart(10)}  target`);
  for (const [name, value, target] of rows) console.log(`${name.padEnd(46)}${value.padStart(10)}  ${target}`);
  const pass = r.decision.p99Ms <= TARGET_P99_MS && r.memory.vmHwmMiB <= TARGET_RSS_MIB;
  console.log(
    `\nresult: ${pass ? 'PASS' : 'FAIL'}; all ${PEERS} peers joined in ${r.joinSeconds.toFixed(2)} s`,
  );
  console.log(
    JSON.stringify({
      peers: PEERS,
      peersRegistered: r.peersGauge,
      joinSeconds: r.joinSeconds,
      clientLatencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) },
      decisions: r.decision.count,
      decisionMs: { p50: r.decision.p50Ms, p99: r.decision.p99Ms, mean: r.decision.meanMs },
      decisionBuckets: r.decision.buckets,
      schedulerMemoryMiB: { ...r.memory, idleRss: r.idleRssMiB },
    }),
  );
  process.exitCode = pass ? 0 : 1;
}

await main();
