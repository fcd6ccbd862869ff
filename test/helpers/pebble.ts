import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from './registry.js';
import { requireCommand } from './skip.js';
import { makeTestCa } from './tls.js';

/*
 * A private ACME CA for the certificate tests: Debian's `pebble` on loopback
 * with its directory served over HTTPS by a certificate from a throwaway CA
 * (tls.ts), and `pebble-challtestsrv` as the DNS server Pebble asks for the
 * DNS-01 TXT records (`-dnsserver`). The test plays the DNS operator by
 * setting records through challtestsrv's management API (`/set-txt`).
 */

export interface Pebble {
  /** The ACME directory (https://127.0.0.1:<port>/dir). */
  directoryUrl: string;
  /** PEM of the CA that signed Pebble's HTTPS certificate: the bundle an ACME client must trust. */
  caPem: string;
  /** challtestsrv's management API (http://127.0.0.1:<port>), for DNS hooks. */
  challtestsrvUrl: string;
  /** Adds a TXT value to `name` (values accumulate until cleared). */
  setTxt(name: string, value: string): Promise<void>;
  /** Removes every TXT value of `name`. */
  clearTxt(name: string): Promise<void>;
  /** The root Pebble issues under (regenerated on each start). */
  issuingRootPem(): Promise<string>;
  /** What the two servers printed (the last 64 KiB each), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Life of the certificates Pebble issues, in seconds (its default is five years). */
  validitySeconds?: number;
  /** Share (percent) of valid authorizations Pebble reuses in new orders; default 0 (always validate). */
  authzReusePercent?: number;
}

/** Skip reason when Pebble is not installed (throws under CI). */
export function requirePebble(): string | undefined {
  return requireCommand('pebble') ?? requireCommand('pebble-challtestsrv');
}

const OUTPUT_LIMIT = 64 * 1024;
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, log: string[]): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString('utf8'));
    while (log.join('').length > OUTPUT_LIMIT && log.length > 1) log.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not start within 15 s; output:\n${output()}`);
}

/** Starts challtestsrv and Pebble in `dir` (their config and TLS files go there). */
export async function startPebble(dir: string, options: PebbleOptions = {}): Promise<Pebble> {
  const ca = await makeTestCa(join(dir, 'pebble-tls'));
  const tls = await ca.issue('cloud', 'pebble');
  const [acmePort, managementPort, dnsPort, challPort, httpPort, tlsPort] = await Promise.all(
    Array.from({ length: 6 }, () => freePort()),
  );
  const configPath = join(dir, 'pebble-config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: join(tls.dir, 'tls.crt'),
        privateKey: join(tls.dir, 'tls.key'),
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  );
  const logs = { chall: [] as string[], pebble: [] as string[] };
  const output = () => `--- pebble-challtestsrv\n${logs.chall.join('')}\n--- pebble\n${logs.pebble.join('')}`;
  const challtestsrvUrl = `http://127.0.0.1:${challPort}`;
  const chall = startProcess(
    'pebble-challtestsrv',
    [
      '-management',
      `127.0.0.1:${challPort}`,
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
    ],
    {},
    logs.chall,
  );
  const pebble = startProcess(
    'pebble',
    ['-config', configPath, '-dnsserver', `127.0.0.1:${dnsPort}`],
    {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_AUTHZREUSE: String(options.authzReusePercent ?? 0),
    },
    logs.pebble,
  );
  const stop = async () => {
    await Promise.all([stopProcess(pebble), stopProcess(chall)]);
  };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${challtestsrvUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`challtestsrv ${path}: ${res.status} ${await res.text()}`);
  };
  const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);
  try {
    await waitUntil(
      'pebble-challtestsrv',
      async () => (await fetch(`${challtestsrvUrl}/`)).status > 0,
      output,
    );
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await waitUntil('pebble', async () => (await httpsGet(directoryUrl, ca.caPem)).status === 200, output);
    return {
      directoryUrl,
      caPem: ca.caPem,
      challtestsrvUrl,
      setTxt: (name, value) => post('/set-txt', { host: fqdn(name), value }),
      clearTxt: (name) => post('/clear-txt', { host: fqdn(name) }),
      async issuingRootPem() {
        const res = await httpsGet(`https://127.0.0.1:${managementPort}/roots/0`, ca.caPem);
        if (res.status !== 200) throw new Error(`pebble /roots/0: ${res.status}`);
        return res.body;
      },
      output,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
