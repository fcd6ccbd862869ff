import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/*
 * A private Docker Engine per test file: its own data root, exec root,
 * pidfile and socket, no bridge and no iptables (nothing on the host's
 * network changes), the vfs storage driver (works inside any container),
 * and Warren as its registry mirror.
 *
 * `networks: true` (the cloud's sandbox tests) turns iptables on so that
 * user-defined bridge networks work and are isolated from each other; the
 * default bridge (docker0) stays off, and networks come from a 10.x.0.0/16
 * pool no route on the host uses. Caveat: every dockerd with iptables
 * rebuilds the shared DOCKER-ISOLATION chains when it starts, dropping the
 * rules of other such daemons on the host, so isolation tests of two of them
 * running at once can fail (never wrongly pass); `privateNetns` avoids it.
 * stop() removes every container and network first, so no bridge or rule is
 * left on the host.
 */

export interface Dockerd {
  socket: string;
  /** Runs the docker CLI against this daemon. */
  docker(args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** What dockerd wrote (the last 256 KiB). */
  output(): string;
  /** dockerd's process id (for nsenter into its network namespace). */
  pid(): number | undefined;
  /** Stops dockerd (SIGTERM, as an engine restart does) and starts it again with the same folders. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** Docker's registry mirror; without it Docker has none. */
  mirror?: string;
  maxDownloadAttempts?: number;
  /** User-defined bridge networks with iptables (see above). Default off. */
  networks?: boolean;
  /**
   * With `networks`: run dockerd in a network namespace of its own (`unshare
   * --net`), so no other dockerd on the host can rebuild its iptables rules.
   * Containers are then not reachable from the test process (docker exec is).
   */
  privateNetns?: boolean;
}

export async function startDockerd(dir: string, options: DockerdOptions = {}): Promise<Dockerd> {
  await mkdir(join(dir, 'data'), { recursive: true });
  await mkdir(join(dir, 'exec'), { recursive: true });
  const socket = join(dir, 'docker.sock');
  const args = [
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'exec'),
    '--pidfile',
    join(dir, 'docker.pid'),
    '-H',
    `unix://${socket}`,
    '--bridge=none',
    ...(options.networks
      ? ['--iptables=true', `--default-address-pool=base=${await freeAddressPool()},size=24`]
      : ['--iptables=false']),
    '--ip6tables=false',
    '--storage-driver=vfs',
    ...(options.mirror ? [`--registry-mirror=${options.mirror}`] : []),
    `--max-download-attempts=${options.maxDownloadAttempts ?? 3}`,
  ];
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-256 * 1024);
  };
  const docker = (args: string[], timeoutMs = 180_000) =>
    run('docker', ['-H', `unix://${socket}`, ...args], timeoutMs);
  let child: ChildProcess;
  const launch = async () => {
    child = options.privateNetns
      ? spawn('unshare', ['--net', '--', 'dockerd', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('dockerd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) break;
      if ((await docker(['version', '--format', '{{.Server.Version}}'], 10_000)).code === 0) return;
      await sleep(200);
    }
    await stopDaemon(child);
    throw new Error(`dockerd did not start:\n${output.slice(-4000)}`);
  };
  const stop = async () => {
    if (options.networks && child.exitCode === null) {
      const ids = (await docker(['ps', '-aq'], 30_000)).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(['rm', '-f', ...ids], 120_000);
      await docker(['network', 'prune', '-f'], 60_000);
    }
    await stopDaemon(child);
  };
  await launch();
  return {
    socket,
    docker,
    output: () => output,
    pid: () => child.pid,
    restart: async () => {
      await stopDaemon(child);
      await launch();
    },
    stop,
  };
}

/** A 10.x.0.0/16 (x in 200..249) that no route on this host touches yet, picked at random among those. */
async function freeAddressPool(): Promise<string> {
  const routes = (await run('ip', ['-4', 'route', 'show', 'table', 'all'], 10_000)).stdout;
  const used = new Set([...routes.matchAll(/\b10\.(\d+)\./g)].map((m) => Number(m[1])));
  const free = Array.from({ length: 50 }, (_, i) => 200 + i).filter((x) => !used.has(x));
  const pick = free[Math.floor(Math.random() * free.length)];
  if (pick === undefined) throw new Error('no free 10.200-249.0.0/16 range for Docker networks');
  return `10.${pick}.0.0/16`;
}

async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

function run(command: string, args: string[], timeoutMs: number) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: String(err) });
    });
  });
}
