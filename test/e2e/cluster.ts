import { join } from 'node:path';
import { type Role, writeTlsDir } from '../../src/core/tls.js';
import type { Manager } from '../../src/manager/manager.js';
import {
  type RunResult,
  runWarren,
  spawnWarren,
  type WarrenProcess,
  waitForJsonLine,
} from '../helpers/processes.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';

/** A peer daemon started by a test. */
export interface PeerProcess {
  name: string;
  process: WarrenProcess;
  dataDir: string;
  tlsDir: string;
  socket: string;
  upload: string;
  ops: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface GetResult extends RunResult {
  json?: {
    taskId: string;
    bytes: number;
    sha256: string;
    piecesFromParents: number;
    piecesFromSource: number;
    piecesResumed: number;
  };
}

/** Short timeouts so that fault tests do not wait for production defaults. */
export const FAST_PEER_ENV: NodeJS.ProcessEnv = {
  WARREN_DOWNLOAD__STALL_TIMEOUT: '1s',
  WARREN_DOWNLOAD__MAX_RESCHEDULES: '30',
  WARREN_LOG_LEVEL: 'info',
};

/** A scheduler process. */
export interface SchedulerProcess {
  name: string;
  process: WarrenProcess;
  address: string;
  ops: string;
}

/**
 * A scheduler, seed peers and peers as real processes on loopback, each
 * with its own certificate from one test CA and its own data folder. With
 * {@link Cluster.useManager}, certificates come from the manager's CA and
 * every component finds its schedulers through the manager instead.
 */
export class Cluster {
  ca!: TestCa;
  /** The first scheduler started (the one peers use without a manager). */
  scheduler: SchedulerProcess | undefined;
  readonly schedulers = new Map<string, SchedulerProcess>();
  readonly peers = new Map<string, PeerProcess>();
  /** host:port of the manager's RPC, once {@link useManager} was called. */
  managerRpc: string | undefined;

  constructor(readonly dir: string) {}

  async init(): Promise<this> {
    this.ca = await makeTestCa(this.dir);
    return this;
  }

  /**
   * Components get certificates from `manager`'s CA (recorded, like
   * enrolment's) and `--manager` instead of `--scheduler`: peers learn the
   * schedulers from the manager's Sync.
   */
  useManager(manager: Manager): this {
    this.managerRpc = manager.addresses.rpc;
    const caPem = manager.ctx.ca.caPem;
    this.ca = {
      caDir: manager.ctx.ca.dir,
      caPem,
      issue: async (role: Role, name: string, options = {}) => {
        const issued = await manager.ctx.ca.issue({
          name,
          role,
          hosts: options.hosts,
          lifetimeMs: (options.days ?? 1) * 86_400_000,
        });
        const material = { ca: issued.ca, cert: issued.cert, key: issued.key };
        const tlsDir = join(this.dir, 'certs', name);
        writeTlsDir(tlsDir, material);
        return { dir: tlsDir, material };
      },
    };
    return this;
  }

  async startScheduler(env: NodeJS.ProcessEnv = {}, name = 'scheduler'): Promise<string> {
    const tls = await this.ca.issue('scheduler', name);
    const args = [
      'scheduler',
      '--listen',
      '127.0.0.1:0',
      '--tls-dir',
      tls.dir,
      '--ops-listen',
      '127.0.0.1:0',
    ];
    if (this.managerRpc) args.push('--manager', this.managerRpc);
    const proc = spawnWarren(args, { env });
    const line = await waitForJsonLine(proc);
    const started = { name, process: proc, address: line.listening, ops: line.ops ?? '' };
    this.scheduler ??= started;
    this.schedulers.set(name, started);
    return line.listening;
  }

  /** Starts a peer (a seed peer with `seed`); it uses the cluster's scheduler if one runs. */
  async startPeer(
    name: string,
    options: { seed?: boolean; env?: NodeJS.ProcessEnv; args?: string[]; scheduler?: boolean } = {},
  ): Promise<PeerProcess> {
    const tls = await this.ca.issue(options.seed ? 'seed' : 'peer', name);
    const dataDir = join(this.dir, 'peers', name);
    const args = [
      'peer',
      '--data',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      '--tls-dir',
      tls.dir,
      '--ops-listen',
      '127.0.0.1:0',
    ];
    if (options.seed) args.push('--seed');
    if (this.managerRpc && options.scheduler !== false) args.push('--manager', this.managerRpc);
    else if (this.scheduler && options.scheduler !== false) args.push('--scheduler', this.scheduler.address);
    args.push(...(options.args ?? []));
    const env = { ...FAST_PEER_ENV, ...options.env };
    const peer = await this.spawn(name, args, env, dataDir, tls.dir);
    this.peers.set(name, peer);
    return peer;
  }

  /** Starts a stopped (or killed) peer again with the same data folder and arguments. */
  async restart(peer: PeerProcess): Promise<PeerProcess> {
    const again = await this.spawn(peer.name, peer.args, peer.env, peer.dataDir, peer.tlsDir);
    this.peers.set(peer.name, again);
    return again;
  }

  private async spawn(name: string, args: string[], env: NodeJS.ProcessEnv, dataDir: string, tlsDir: string) {
    const proc = spawnWarren(args, { env });
    const line = await waitForJsonLine(proc);
    return {
      name,
      process: proc,
      dataDir,
      tlsDir,
      socket: line.socket ?? '',
      upload: line.listening,
      ops: line.ops ?? '',
      args,
      env,
    };
  }

  /** `warren get URL -O OUT --json` through a peer. */
  async get(peer: PeerProcess, url: string, output: string, extra: string[] = []): Promise<GetResult> {
    const result: GetResult = await runWarren(
      ['get', url, '-O', output, '--socket', peer.socket, '--json', ...extra],
      {
        timeoutMs: 180_000,
      },
    );
    const last = result.stdout.trim().split('\n').pop() ?? '';
    if (result.code === 0 && last.startsWith('{')) result.json = JSON.parse(last);
    return result;
  }
}

/** Reads one counter or gauge (summed over its labels, or one label set) from a role's /metrics. */
export async function metric(
  ops: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://${ops}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) total += Number(match[3]);
  }
  return total;
}
