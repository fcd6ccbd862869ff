import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TokenBucket, throttle } from '../../src/core/token-bucket.js';

/*
 * Debian's `docker-registry` (distribution 2.8) as the origin registry, on
 * 127.0.0.1 with its own config and storage in a temp folder, htpasswd
 * (bcrypt) auth; a counting front before it; skopeo to push.
 */

export interface RegistryUser {
  username: string;
  password: string;
}

export interface Registry {
  port: number;
  /** `127.0.0.1:PORT` */
  host: string;
  /** The account pulls and pushes need; none: an anonymous registry (benchmarks). */
  user?: RegistryUser;
  /** What the registry wrote to stdout and stderr (its access log included). */
  output(): string;
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound and released at once). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts `docker-registry serve` with htpasswd auth for `user` (the bcrypt
 * entry from `htpasswd -iB`, password on stdin), or anonymous without one.
 */
export async function startRegistry(dir: string, user?: RegistryUser): Promise<Registry> {
  await mkdir(join(dir, 'data'), { recursive: true });
  if (user) {
    const made = spawnSync('htpasswd', ['-iBn', user.username], { input: user.password, encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`htpasswd failed: ${made.stderr}`);
    await writeFile(join(dir, 'htpasswd'), made.stdout.trim() + '\n', { mode: 0o600 });
  }
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: info',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${Math.random().toString(36).slice(2)}`,
    ...(user ? ['auth:', '  htpasswd:', '    realm: warren-test', `    path: ${join(dir, 'htpasswd')}`] : []),
    '',
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), config);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-256 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const registry: Registry = {
    port,
    host: `127.0.0.1:${port}`,
    user,
    output: () => output,
    close: () => stopChild(child),
  };
  for (let i = 0; i < 100; i++) {
    const status = await fetch(`http://127.0.0.1:${port}/v2/`)
      .then((r) => r.status)
      .catch(() => 0);
    if (status === (user ? 401 : 200)) return registry;
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  await registry.close();
  throw new Error(`docker-registry did not start:\n${output}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/**
 * Pushes the OCI layout's `tag` to `registry` as `repository:tag` with
 * skopeo; the account goes in an auth file, not on the command line.
 */
export async function pushImage(
  registry: Registry,
  layout: { dir: string; tag: string },
  repository: string,
  workDir: string,
): Promise<void> {
  const authFile = join(workDir, 'skopeo-auth.json');
  const user = registry.user;
  const auths = user
    ? { [registry.host]: { auth: Buffer.from(`${user.username}:${user.password}`).toString('base64') } }
    : {};
  await writeFile(authFile, JSON.stringify({ auths }), { mode: 0o600 });
  const result = spawnSync(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--dest-authfile',
      authFile,
      `oci:${layout.dir}:${layout.tag}`,
      `docker://${registry.host}/${repository}:${layout.tag}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (result.status !== 0) throw new Error(`skopeo copy failed: ${result.stderr}`);
}

/** One request the front saw. */
export interface FrontRequest {
  method: string;
  path: string;
  status: number;
  authorization: boolean;
}

export interface RegistryFront {
  port: number;
  host: string;
  /** Full-content or ranged GETs of blob `digest` answered 200/206 by the registry. */
  blobGets(digest: string): number;
  requests(): FrontRequest[];
  /** Response body bytes passed on to clients since the last reset. */
  bytesSent(): number;
  /** From now on, the bytes of blob `digest` are altered in flight (same length). */
  corrupt(digest: string): void;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A counting front before the registry (what Warren is configured with):
 * passes every request through unchanged, counts blob GETs per digest, and
 * can alter a blob's bytes to play a registry that serves the wrong content.
 */
export async function startRegistryFront(
  registry: Registry,
  options: { rateLimitBytesPerSec?: number } = {},
): Promise<RegistryFront> {
  // A registry far away: every response body shares this bandwidth (benchmarks).
  const rate = options.rateLimitBytesPerSec;
  const bucket = rate ? new TokenBucket(rate, Math.max(rate / 10, 256 * 1024)) : undefined;
  const log: FrontRequest[] = [];
  const corrupted = new Set<string>();
  let bytes = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      { host: '127.0.0.1', port: registry.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const path = (req.url ?? '').split('?')[0]!;
        log.push({
          method: req.method ?? '',
          path,
          status: answer.statusCode ?? 0,
          authorization: req.headers.authorization !== undefined,
        });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1];
        let flipped = !(digest && corrupted.has(digest));
        const pump = async () => {
          for await (let chunk of answer as AsyncIterable<Buffer>) {
            if (!flipped && chunk.length > 0) {
              chunk = Buffer.from(chunk);
              chunk[Math.floor(chunk.length / 2)]! ^= 0xff;
              flipped = true;
            }
            bytes += chunk.length;
            const wait = bucket && throttle(bucket, chunk.length);
            if (wait) await wait;
            if (!res.write(chunk)) await once(res, 'drain');
          }
          res.end();
        };
        pump().catch(() => res.destroy());
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    host: `127.0.0.1:${port}`,
    blobGets: (digest) =>
      log.filter(
        (r) =>
          r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`) && (r.status === 200 || r.status === 206),
      ).length,
    requests: () => [...log],
    bytesSent: () => bytes,
    corrupt: (digest) => corrupted.add(digest),
    reset: () => {
      log.length = 0;
      bytes = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
