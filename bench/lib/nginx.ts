import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const NGINX_BIN = '/usr/sbin/nginx';

export interface NginxOptions {
  /** Folder to serve. */
  root: string;
  /** Serve HTTPS with these PEM files (paths). Without it, plain HTTP. */
  tls?: { certFile: string; keyFile: string };
  /**
   * Per-connection rate limit in bytes per second (nginx `limit_rate`, with
   * `sendfile_max_chunk 64k` so that the first sendfile call cannot burst
   * megabytes into the loopback socket buffer).
   */
  limitRate?: number;
  /** Defaults to /usr/sbin/nginx. */
  bin?: string;
}

export interface Nginx {
  readonly port: number;
  readonly pid: number;
  /** `http(s)://127.0.0.1:PORT`. */
  readonly baseUrl: string;
  /** The temp folder with nginx.conf, logs and temp paths. */
  readonly dir: string;
  url(path: string): string;
  /** Stops nginx (SIGQUIT, then SIGKILL after 5 s) and removes its temp folder. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts Debian's nginx in the foreground as one process (`daemon off;
 * master_process off;`), with every path it writes inside a temp folder,
 * listening on 127.0.0.1 on a free port. Resolves once it accepts connections.
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options, await freePort());
    } catch (err) {
      lastError = err;
      if (!String(err).includes('Address already in use')) break;
    }
  }
  throw lastError;
}

async function startOnce(options: NginxOptions, port: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-nginx-'));
  for (const sub of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    mkdirSync(join(dir, 'tmp', sub), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, options));
  const errorLog = join(dir, 'error.log');
  const child = spawn(options.bin ?? NGINX_BIN, ['-p', dir, '-c', conf, '-e', errorLog], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-16_384);
  });
  const exited = new Promise<void>((ok) => {
    child.once('close', () => {
      running.delete(child);
      ok();
    });
  });
  const fail = (why: string) => {
    child.kill('SIGKILL');
    let log = '';
    try {
      log = readFileSync(errorLog, 'utf8');
    } catch {
      // nginx did not get as far as opening it
    }
    rmSync(dir, { recursive: true, force: true });
    return new Error(`nginx ${why}: ${stderr}${log}`.trim());
  };
  const deadline = Date.now() + 10_000;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!(await accepts(port))) {
    if (gone) throw fail('exited before listening');
    if (Date.now() > deadline) throw fail('did not listen within 10 s');
    await new Promise((ok) => setTimeout(ok, 50));
  }
  const baseUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    port,
    pid: child.pid!,
    baseUrl,
    dir,
    url: (path) => baseUrl + (path.startsWith('/') ? path : `/${path}`),
    async stop() {
      if (!gone) {
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The generated configuration; exported so a benchmark can print what it ran. */
export function nginxConfig(dir: string, port: number, options: NginxOptions): string {
  const tmp = (name: string) => join(dir, 'tmp', name);
  const tls = options.tls
    ? `    ssl_certificate ${resolve(options.tls.certFile)};
    ssl_certificate_key ${resolve(options.tls.keyFile)};
    ssl_protocols TLSv1.2 TLSv1.3;
`
    : '';
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${tmp('client')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  server {
    listen 127.0.0.1:${port}${options.tls ? ' ssl' : ''};
    server_name localhost;
${tls}    root ${resolve(options.root)};
    location / {
${options.limitRate ? `      limit_rate ${Math.floor(options.limitRate)};\n      sendfile_max_chunk 64k;\n` : ''}    }
  }
}
`;
}

/** A port that was free a moment ago (nginx cannot be told to pick one). */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      ok(true);
    });
    socket.once('error', () => ok(false));
  });
}
