// Scratch harness (not committed): CPU time per request of Warren's gateway vs nginx, same wrk load.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Gateway } from '../src/cloud/gateway/gateway.js';
import { makeTestCa } from '../test/helpers/tls.js';
import { freePort } from '../test/helpers/registry.js';
import { startNginx } from './lib/nginx.js';
import { runWrk } from './lib/wrk.js';

const dir = '/tmp/gw/run-' + process.pid;
mkdirSync(join(dir, 'www'), { recursive: true });
writeFileSync(join(dir, 'www/index.html'), `<!doctype html><html><body>${'<p>Lorem ipsum dolor sit amet.</p>'.repeat(20)}</body></html>\n`);
let origin: { port: number; stop(): Promise<void> };
if (process.env.ORIGIN === 'busybox') {
  const port = 20000 + (process.pid % 10000);
  const bb = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', join(dir, 'www')], { stdio: 'ignore' });
  await new Promise((ok) => setTimeout(ok, 300));
  origin = { port, stop: async () => { bb.kill(); } };
} else origin = await startNginx({ root: join(dir, 'www') });
const ca = await makeTestCa(dir);
const issued = await ca.issue('cloud', 'b', { hosts: ['cloud.test', '*.cloud.test'] });
const sessions = new Map([['c00kie', { appId: 'notes', visitor: { userId: 'u', userName: 'alice' } }]]);
const route = { kind: 'running' as const, host: '127.0.0.1', port: origin.port, urlPath: '/' };
const gateway = new Gateway({
  domain: 'cloud.test', https: { host: '127.0.0.1', port: 0 },
  certificate: { cert: issued.material.cert, key: issued.material.key },
  routes: { console: (_q, r) => r.end(), app: async (a) => (a === 'notes' ? route : undefined) },
  gate: { redeemHandoff: async () => undefined, visitor: async (a, v) => { const s = sessions.get(v); return s?.appId === a ? s.visitor : undefined; } },
});
await gateway.start();
const wport = gateway.address.https.port;
const nport = await freePort();
mkdirSync(join(dir, 'n/tmp'), { recursive: true });
writeFileSync(join(dir, 'n/nginx.conf'), `daemon off; master_process off; worker_processes 1; pid ${dir}/n/pid; error_log ${dir}/n/err warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}/n/tmp; proxy_temp_path ${dir}/n/tmp;
 upstream app { server 127.0.0.1:${origin.port}; keepalive 32; }
 server { listen 127.0.0.1:${nport} ssl; ssl_certificate ${issued.dir}/tls.crt; ssl_certificate_key ${issued.dir}/tls.key; ssl_protocols TLSv1.2 TLSv1.3;
  location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $remote_addr; } } }`);
const ng = spawn('/usr/sbin/nginx', ['-p', join(dir, 'n'), '-c', join(dir, 'n/nginx.conf'), '-e', join(dir, 'n/err')], { stdio: 'ignore' });
await sleep(500);
const ticks = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10_000; }; // µs (100 Hz)
const secs = Number(process.env.SECS ?? 5);
const run = async (port: number, pid?: number) => {
  const c0 = process.cpuUsage(); const t0 = pid ? ticks(pid) : 0;
  const r = await runWrk({ url: `https://127.0.0.1:${port}/index.html`, durationS: secs, connections: 32, threads: 2, headers: { Host: `notes.cloud.test:${port}`, Cookie: '__Host-warren-app=c00kie; theme=dark' }, scratchDir: dir });
  const c = process.cpuUsage(c0); const cpu = pid ? ticks(pid) - t0 : c.user + c.system;
  return `${Math.round(r.requestsPerSecond)} req/s p50 ${r.p50Ms} p99 ${r.p99Ms} errors ${r.errors} cpu/req ${(cpu / r.requests).toFixed(1)} µs` + (pid ? "" : ` (user ${(c.user / r.requests).toFixed(1)}, sys ${(c.system / r.requests).toFixed(1)})`);
};
await run(wport); if (!process.env.ONLY) await run(nport, ng.pid);
for (let i = 0; i < Number(process.env.ROUNDS ?? 3); i++) {
  console.log('warren', await run(wport));
  if (!process.env.ONLY) console.log('nginx ', await run(nport, ng.pid));
}
await gateway.stop(); ng.kill('SIGKILL'); await origin.stop();
