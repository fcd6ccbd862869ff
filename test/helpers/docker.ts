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
 */

export interface Dockerd {
  socket: string;
  /** Runs the docker CLI against this daemon. */
  docker(args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** What dockerd wrote (the last 256 KiB). */
  output(): string;
  stop(): Promise<void>;
}

export async function startDockerd(
  dir: string,
  options: { mirror: string; maxDownloadAttempts?: number },
): Promise<Dockerd> {
  await mkdir(join(dir, 'data'), { recursive: true });
  await mkdir(join(dir, 'exec'), { recursive: true });
  const socket = join(dir, 'docker.sock');
  const child = spawn(
    'dockerd',
    [
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '-H',
      `unix://${socket}`,
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--storage-driver=vfs',
      `--registry-mirror=${options.mirror}`,
      `--max-download-attempts=${options.maxDownloadAttempts ?? 3}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-256 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const docker = (args: string[], timeoutMs = 180_000) =>
    run('docker', ['-H', `unix://${socket}`, ...args], timeoutMs);
  const daemon: Dockerd = { socket, docker, output: () => output, stop: () => stopDaemon(child) };
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) break;
    if ((await docker(['version', '--format', '{{.Server.Version}}'], 10_000)).code === 0) return daemon;
    await sleep(200);
  }
  await daemon.stop();
  throw new Error(`dockerd did not start:\n${output.slice(-4000)}`);
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
