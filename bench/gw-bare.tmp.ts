// Scratch: CPU/request of a bare node:https server answering a fixed page, and a minimal node:http proxy.
if (process.env.NOSM) process.setSourceMapsEnabled(false);
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:https';
import { Agent, request } from 'node:http';
import { Pool } from 'undici';
import { makeTestCa } from '../test/helpers/tls.js';
import { startNginx } from './lib/nginx.js';
import { runWrk } from './lib/wrk.js';

const dir = '/tmp/gw/bare-' + process.pid;
mkdirSync(join(dir, 'www'), { recursive: true });
const page = `<!doctype html><html><body>${'<p>Lorem ipsum dolor sit amet.</p>'.repeat(20)}</body></html>\n`;
writeFileSync(join(dir, 'www/index.html'), page);
import { spawn } from 'node:child_process';
let origin: { port: number; stop(): Promise<void> };
if (process.env.ORIGIN === 'busybox') {
  const port = 20000 + (process.pid % 10000);
  const bb = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', join(dir, 'www')], { stdio: 'ignore' });
  await new Promise((ok) => setTimeout(ok, 300));
  origin = { port, stop: async () => { bb.kill(); } };
} else origin = await startNginx({ root: join(dir, 'www') });
const ca = await makeTestCa(dir);
const issued = await ca.issue('cloud', 'b', { hosts: ['cloud.test', '*.cloud.test'] });
const mode = process.env.MODE ?? 'bare';
const agent = new Agent({ keepAlive: true, maxSockets: 128 });
const pool = new Pool(`http://127.0.0.1:${origin.port}`, { connections: 128, pipelining: 1 });
const server = createServer({ cert: issued.material.cert, key: issued.material.key, noDelay: true } as any, (req, res) => {
  if (mode === 'bare') { res.writeHead(200, { 'content-type': 'text/html', 'content-length': page.length }); res.end(page); return; }
  if (mode === 'http') {
    const up = request({ host: '127.0.0.1', port: origin.port, path: req.url, method: req.method, headers: req.rawHeaders, agent }, (u) => { res.writeHead(u.statusCode!, u.rawHeaders.filter((_, i, a) => !/^(connection|keep-alive)$/i.test(a[i - (i % 2)]!))); u.pipe(res); });
    up.end(); return;
  }
  if (mode === 'undici2') {
    pool.dispatch({ path: req.url!, method: req.method as any, headers: req.rawHeaders }, {
      onRequestStart() {}, onResponseError(_c: any, e: Error) { res.destroy(e); },
      onResponseStart(_c: any, status: number, headers: Record<string, string | string[]>) { const h: string[] = []; for (const n in headers) { if (n === 'connection' || n === 'keep-alive') continue; const v = headers[n]!; if (typeof v === 'string') h.push(n, v); else for (const x of v) h.push(n, x); } res.writeHead(status, h); },
      onResponseData(_c: any, chunk: Buffer) { res.write(chunk); }, onResponseEnd() { res.end(); },
    } as any);
  }
  if (mode === 'undici') {
    pool.dispatch({ path: req.url!, method: req.method as any, headers: req.rawHeaders }, {
      onConnect() {}, onError(e) { res.destroy(e); },
      onHeaders(status, raw) { const h: string[] = []; for (let i = 0; i < raw.length; i += 2) { const n = raw[i]!.toString('latin1'); if (!/^(connection|keep-alive)$/i.test(n)) h.push(n, raw[i + 1]!.toString('latin1')); } res.writeHead(status, h); return true; },
      onData(chunk) { return res.write(chunk); }, onComplete() { res.end(); },
    } as any);
  }
});
await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
const port = (server.address() as any).port;
for (let i = 0; i < 3; i++) {
  const c0 = process.cpuUsage();
  const r = await runWrk({ url: `https://127.0.0.1:${port}/index.html`, durationS: 5, connections: 32, threads: 2, headers: { Host: 'notes.cloud.test' }, scratchDir: dir });
  const c = process.cpuUsage(c0);
  console.log(mode, Math.round(r.requestsPerSecond), 'req/s', 'errors', r.errors, 'cpu/req', ((c.user + c.system) / r.requests).toFixed(1), 'µs');
}
server.close(); server.closeAllConnections(); agent.destroy(); await pool.close(); await origin.stop();
