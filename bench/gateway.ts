/**
 * The cloud's gateway (issue 6) beside nginx, in one run: the same small
 * page from one upstream, measured with wrk (HTTPS, keep-alive) through
 *
 *   (i)  Warren's Gateway: TLS, Host routing, the app-cookie check through a
 *        gate whose visitor() is an in-memory map lookup (the real cache's
 *        fast path), header rewriting, a keep-alive Agent to the app;
 *   (ii) nginx with the same certificate and TLS protocols, proxying to the
 *        same upstream (keep-alive upstream block, the same X-Forwarded-*).
 *
 * and the upstream straight (plain HTTP) as a reference. Rounds alternate
 * Warren and nginx; medians are reported. Each row is UPSTREAM:CONNECTIONS:
 *   container  Debian's busybox httpd in a container of a private dockerd
 *              (image FROM scratch; host network, so all traffic stays on
 *              loopback). busybox httpd forks per connection and closes each
 *              one, and listens with a backlog of 9: at 32 connections SYNs
 *              overflow it and wait out the 1 s retransmit, on every path.
 *   busybox    the same httpd as a plain process (no Docker needed);
 *   nginx      a plain-HTTP nginx serving the file with keep-alive, where the
 *              proxies' own cost shows most.
 *
 * Run: node --import tsx bench/gateway.ts [--rows container:32,container:8,nginx:32] [--rounds 3] [--duration 10] [--threads 2] [--delay MS]
 *   --delay MS paces every connection (a pause before each request): all paths get the same
 *   offered load below saturation, which is where added latency is a fair comparison.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Gateway } from '../src/cloud/gateway/gateway.js';
import type { AppRoute, AppVisitor } from '../src/cloud/gateway/types.js';
import { buildBusyboxImage } from '../test/cloud/helpers-docker.js';
import { type Dockerd, startDockerd } from '../test/helpers/docker.js';
import { freePort } from '../test/helpers/registry.js';
import { findCommand } from '../test/helpers/skip.js';
import { makeTestCa } from '../test/helpers/tls.js';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp.js';
import { NGINX_BIN, startNginx } from './lib/nginx.js';
import { formatRatio, median } from './lib/stats.js';
import { runWrk, type WrkResult } from './lib/wrk.js';

const dockerHere = process.getuid?.() === 0 && findCommand('dockerd') !== undefined;
const { values } = parseArgs({
  options: {
    rows: {
      type: 'string',
      default: `${dockerHere ? 'container' : 'busybox'}:32,${dockerHere ? 'container' : 'busybox'}:8,nginx:32`,
    },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    /** Pause (ms) before each request of a connection: a paced load, the same for every path. */
    delay: { type: 'string', default: '' },
    threads: { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const durationS = Number(values.duration);
const delayMs = values.delay ? Number(values.delay) : undefined;
const threads = Number(values.threads);
const DOMAIN = 'cloud.test';
const APP = 'notes';

const dir = tempDir('warren-bench-gateway-');
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => {
    stderr = (stderr + t).slice(-8192);
  });
  child.once('exit', (code) => {
    if (children.delete(child) && code) console.error(`${command} exited ${code}: ${stderr}`);
  });
  children.add(child);
  return child;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

function nginxConf(
  prefix: string,
  port: number,
  upstreamPort: number,
  certFile: string,
  keyFile: string,
): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'tmp')};
  proxy_temp_path ${join(prefix, 'tmp')};
  fastcgi_temp_path ${join(prefix, 'tmp')};
  uwsgi_temp_path ${join(prefix, 'tmp')};
  scgi_temp_path ${join(prefix, 'tmp')};
  keepalive_timeout 30s;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 32; }
  server {
    listen 127.0.0.1:${port} ssl;
    server_name ${APP}.${DOMAIN};
    ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header Authorization "";
    }
  }
}
`;
}

const fmt = (r: WrkResult) =>
  `${Math.round(r.requestsPerSecond)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${r.errors ? `, ${r.errors} errors` : ''}`;

interface Medians {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function medians(results: WrkResult[]): Medians {
  return {
    rps: median(results.map((r) => r.requestsPerSecond)),
    p50: median(results.map((r) => r.p50Ms)),
    p99: median(results.map((r) => r.p99Ms)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}

interface Tls {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** Warren's gateway and nginx in front of the upstream on `upstreamPort`, `rounds` times each, at `connections`. */
async function measure(label: string, upstreamPort: number, connections: number, tls: Tls) {
  // The gate's fast path is a map lookup, like the real cache's.
  const cookieValue = randomBytes(32).toString('base64url');
  const sessions = new Map<string, { appId: string; visitor: AppVisitor }>([
    [cookieValue, { appId: APP, visitor: { userId: 'u1', userName: 'alice' } }],
  ]);
  const route: AppRoute = { kind: 'running', host: '127.0.0.1', port: upstreamPort, urlPath: '/' };
  const gateway = new Gateway({
    domain: DOMAIN,
    https: { host: '127.0.0.1', port: 0 },
    certificate: { cert: tls.cert, key: tls.key },
    routes: {
      console: (_req, res) => res.writeHead(404).end(),
      app: async (appId) => (appId === APP ? route : undefined),
    },
    gate: {
      redeemHandoff: async () => undefined,
      visitor: async (appId, value) => {
        const session = sessions.get(value);
        return session?.appId === appId ? session.visitor : undefined;
      },
    },
  });
  await gateway.start();
  const warrenPort = gateway.address.https.port;

  const nginxPort = await freePort();
  const nginxDir = join(dir, `nginx-${label}-${connections}`);
  mkdirSync(join(nginxDir, 'tmp'), { recursive: true });
  writeFileSync(
    join(nginxDir, 'nginx.conf'),
    nginxConf(nginxDir, nginxPort, upstreamPort, tls.certFile, tls.keyFile),
  );
  const proxy = start(NGINX_BIN, [
    '-p',
    nginxDir,
    '-c',
    join(nginxDir, 'nginx.conf'),
    '-e',
    join(nginxDir, 'error.log'),
  ]);
  await waitForPort(nginxPort);

  const host = `${APP}.${DOMAIN}`;
  const run = (port: number, seconds = durationS) =>
    runWrk({
      url: `https://127.0.0.1:${port}/index.html`,
      durationS: seconds,
      connections,
      threads,
      headers: { Host: `${host}:${port}`, Cookie: `__Host-warren-app=${cookieValue}; theme=dark` },
      scratchDir: dir,
      ...(delayMs !== undefined ? { delayMs } : {}),
    });
  // Warm-up (JIT, upstream connections), and a check that both answer 200.
  for (const port of [warrenPort, nginxPort]) {
    const warm = await run(port, 2);
    if (warm.errors > warm.requests / 100)
      throw new Error(`warm-up: ${warm.errors} errors of ${warm.requests}`);
  }
  const warren: WrkResult[] = [];
  const nginx: WrkResult[] = [];
  const direct: WrkResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? (['warren', 'nginx'] as const) : (['nginx', 'warren'] as const);
    for (const which of order) {
      const result = await run(which === 'warren' ? warrenPort : nginxPort);
      (which === 'warren' ? warren : nginx).push(result);
      console.log(`${label} c${connections} round ${round} ${which}: ${fmt(result)}`);
    }
    const plain = await runWrk({
      url: `http://127.0.0.1:${upstreamPort}/index.html`,
      durationS,
      connections,
      threads,
      scratchDir: dir,
      ...(delayMs !== undefined ? { delayMs } : {}),
    });
    direct.push(plain);
    console.log(`${label} c${connections} round ${round} upstream direct: ${fmt(plain)}`);
  }
  await gateway.stop();
  proxy.kill('SIGQUIT');
  return { warren: medians(warren), nginx: medians(nginx), direct: medians(direct) };
}

/** Starts an upstream serving `www` on a loopback port. */
async function startUpstream(kind: string, www: string): Promise<{ port: number; stop(): Promise<void> }> {
  if (kind === 'busybox') {
    const port = await freePort();
    const child = start('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', www]);
    await waitForPort(port);
    return { port, stop: async () => void child.kill('SIGTERM') };
  }
  if (kind === 'nginx') {
    const origin = await startNginx({ root: www });
    return { port: origin.port, stop: () => origin.stop() };
  }
  if (kind === 'container') {
    if (!dockerd) {
      dockerd = await startDockerd(join(dir, 'dockerd'));
      await buildBusyboxImage(dockerd, dir);
    }
    const port = await freePort();
    const started = await dockerd.docker([
      'run',
      '-d',
      '--network',
      'host',
      '--read-only',
      '-v',
      `${www}:/www:ro`,
      'warren-test/busybox:1',
      '/bin/busybox',
      'httpd',
      '-f',
      '-p',
      `127.0.0.1:${port}`,
      '-h',
      '/www',
    ]);
    if (started.code !== 0) throw new Error(`docker run failed: ${started.stderr}`);
    const id = started.stdout.trim();
    await waitForPort(port);
    return { port, stop: async () => void (await dockerd!.docker(['rm', '-f', id])) };
  }
  throw new Error(`unknown upstream '${kind}' (container, busybox or nginx)`);
}

let dockerd: Dockerd | undefined;
try {
  // The page: a small HTML document, as an app's start page would be.
  const www = join(dir, 'www');
  mkdirSync(www);
  writeFileSync(
    join(www, 'index.html'),
    `<!doctype html><html><head><title>Notes</title></head><body>${'<p>Lorem ipsum dolor sit amet.</p>'.repeat(20)}</body></html>\n`,
  );
  const pageBytes = readFileSync(join(www, 'index.html')).length;
  const ca = await makeTestCa(dir);
  const issued = await ca.issue('cloud', 'bench-gateway', { hosts: [DOMAIN, `*.${DOMAIN}`] });
  const tls: Tls = {
    cert: issued.material.cert,
    key: issued.material.key,
    certFile: join(issued.dir, 'tls.crt'),
    keyFile: join(issued.dir, 'tls.key'),
  };
  console.log(
    `page ${pageBytes} B; wrk -t${threads} -cN -d${durationS}s --latency; ${rounds} rounds; rows ${values.rows}`,
  );
  const rows: string[] = [];
  for (const spec of values.rows.split(',')) {
    const [kind = '', c = '32'] = spec.split(':');
    const upstream = await startUpstream(kind, www);
    const m = await measure(kind, upstream.port, Number(c), tls);
    await upstream.stop();
    const ratio = m.warren.rps / m.nginx.rps;
    const added = m.warren.p99 - m.nginx.p99;
    const cell = (x: Medians) =>
      `${Math.round(x.rps)} req/s, p50 ${x.p50.toFixed(2)}, p99 ${x.p99.toFixed(2)} ms`;
    rows.push(
      `| ${kind} | ${c} | ${cell(m.warren)} | ${cell(m.nginx)} | ${cell(m.direct)} | **${formatRatio(ratio)}** | **${added.toFixed(2)} ms** | ${m.warren.errors}/${m.nginx.errors} |`,
    );
    console.log(
      `${kind} c${c}: throughput Warren/nginx ${formatRatio(ratio)} (target ≥ 0.70×: ${ratio >= 0.7 ? 'met' : 'MISSED'}); ` +
        `added p99 ${added.toFixed(2)} ms (target ≤ 1 ms: ${added <= 1 ? 'met' : 'MISSED'})`,
    );
  }
  console.log(
    '\n| upstream | conns | Warren gateway (TLS, app cookie) | nginx (TLS, proxy) | upstream direct (HTTP) | req/s Warren/nginx | added p99 | errors W/n |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  if (dockerd) {
    await dockerd.stop();
    // dockerd leaves its default network namespace mounted in its exec root.
    spawnSync('umount', [join(dir, 'dockerd', 'exec', 'netns', 'default')], { stdio: 'ignore' });
  }
  for (const child of children) child.kill('SIGTERM');
  await sleep(200);
  for (const child of children) child.kill('SIGKILL');
  cleanupTempDirs();
}
