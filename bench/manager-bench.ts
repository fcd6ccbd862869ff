/**
 * Manager benchmark: sustained authenticated requests per second, with p50 and
 * p99 latency, on a read endpoint (`GET /api/v1/clusters` with a personal
 * access token) and on job creation (`POST /api/v1/jobs`, a preheat), on SQLite
 * and on PostgreSQL, beside `wrk` against a static Fastify route over the same
 * certificate as the ceiling, all in the same run. The manager runs as
 * `bin/warren manager` in its own process; its rate limits are raised so that
 * the figures measure the API, not the limiter.
 *
 *   node --import tsx bench/manager-bench.ts [--duration 10] [--runs 3] [--connections 32]
 *
 * Needs Debian's `wrk`; PostgreSQL rows need the `postgresql` package and root.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { requirePostgres, startPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { kill, spawnWarren, waitForJsonLine } from '../test/helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp.js';
import { formatRatio, median } from './lib/stats.js';
import { runWrk, type WrkResult } from './lib/wrk.js';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    threads: { type: 'string', default: '1' },
  },
});
const DURATION_S = Number(flags.duration);
const RUNS = Number(flags.runs);
const CONNECTIONS = Number(flags.connections);
const THREADS = Number(flags.threads);

interface Row {
  what: string;
  database: string;
  runs: WrkResult[];
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const scratch = tempDir('warren-manager-bench-');
  let pg: TestPostgres | undefined;
  try {
    const databases: Array<'sqlite' | 'postgres'> = ['sqlite'];
    const pgSkip = requirePostgres();
    if (pgSkip) process.stderr.write(`PostgreSQL rows skipped: ${pgSkip}\n`);
    else databases.push('postgres');
    let certDir = '';
    for (const database of databases) {
      let db: { url: string; passwordFile: string } | undefined;
      if (database === 'postgres') {
        pg ??= await startPostgres();
        db = { url: await pg.createDatabase(), passwordFile: pg.passwordFile };
      }
      const manager = await startManager(scratch, database, db);
      certDir = join(manager.data, 'tls');
      try {
        const { token } = await credentials(manager.api, manager.ca, manager.rootPassword);
        const auth = { authorization: `Bearer ${token}` };
        const read = { what: 'GET /api/v1/clusters (PAT)', database, runs: [] as WrkResult[] };
        const jobs = { what: 'POST /api/v1/jobs preheat (PAT)', database, runs: [] as WrkResult[] };
        await load(`${manager.api}/api/v1/clusters`, { headers: auth, scratchDir: scratch }, 2); // warm-up
        for (let run = 0; run < RUNS; run++) {
          read.runs.push(
            await load(`${manager.api}/api/v1/clusters`, { headers: auth, scratchDir: scratch }),
          );
          jobs.runs.push(
            await load(`${manager.api}/api/v1/jobs`, {
              method: 'POST',
              headers: { ...auth, 'content-type': 'application/json' },
              body: JSON.stringify({
                type: 'preheat',
                args: { urls: ['http://127.0.0.1:9/bench.bin'], scope: 'single_seed_peer' },
              }),
              scratchDir: scratch,
            }),
          );
        }
        rows.push(read, jobs);
      } finally {
        await kill(manager.child);
      }
    }
    const ceiling = await startCeiling(join(certDir, 'tls.crt'), join(certDir, 'tls.key'));
    try {
      const row = { what: 'static Fastify route (ceiling)', database: '-', runs: [] as WrkResult[] };
      await load(`${ceiling.url}/static`, { scratchDir: scratch }, 2);
      for (let run = 0; run < RUNS; run++)
        row.runs.push(await load(`${ceiling.url}/static`, { scratchDir: scratch }));
      rows.push(row);
    } finally {
      ceiling.child.kill('SIGTERM');
    }
    report(rows);
  } finally {
    pg?.close();
    cleanupTempDirs();
  }
}

function load(
  url: string,
  options: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; scratchDir: string },
  durationS = DURATION_S,
): Promise<WrkResult> {
  return runWrk({ url, durationS, connections: CONNECTIONS, threads: THREADS, ...options });
}

async function startManager(scratch: string, database: string, db?: { url: string; passwordFile: string }) {
  const data = join(scratch, `manager-${database}`);
  const rootPassword = randomBytes(18).toString('base64url');
  const passwordFile = join(scratch, `root-password-${database}`);
  writeFileSync(passwordFile, rootPassword, { mode: 0o600 });
  const config = join(scratch, `manager-${database}.yaml`);
  const big = 1_000_000_000;
  writeFileSync(
    config,
    [
      `data: ${data}`,
      'listen: 127.0.0.1:0',
      'rpcListen: 127.0.0.1:0',
      'logLevel: warn',
      `rateLimit: { perToken: ${big}, perAddress: ${big}, jobsPerCluster: ${big} }`,
      `jobs: { queueLimit: ${big} }`,
      db ? `database: { url: '${db.url}', passwordFile: '${db.passwordFile}' }` : '',
    ].join('\n'),
  );
  const child = spawnWarren(['manager', '--config', config], {
    env: { WARREN_ROOT_PASSWORD_FILE: passwordFile },
  });
  const line = await waitForJsonLine(child);
  const { readFileSync } = await import('node:fs');
  return {
    child,
    data,
    api: String(line.api),
    ca: readFileSync(join(data, 'ca', 'ca.crt'), 'utf8'),
    rootPassword,
  };
}

/** Logs in as root and makes a `read job` personal access token, as an operator would. */
async function credentials(api: string, ca: string, password: string): Promise<{ token: string }> {
  const dispatcher = new Agent({ connect: { ca } });
  const call = async (path: string, body: unknown, token?: string) => {
    const res = await request(`${api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      dispatcher,
    });
    const json = (await res.body.json()) as Record<string, unknown>;
    if (res.statusCode >= 300) throw new Error(`${path}: ${res.statusCode} ${JSON.stringify(json)}`);
    return json;
  };
  try {
    const session = await call('/api/v1/auth/login', { name: 'root', password });
    const pat = await call(
      '/api/v1/tokens',
      { name: 'bench', scopes: ['read', 'job'], expires_in: '1d' },
      String(session.token),
    );
    return { token: String(pat.secret ?? pat.token) };
  } finally {
    await dispatcher.close();
  }
}

async function startCeiling(cert: string, key: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'lib', 'static-fastify.ts'), cert, key],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const parsed = JSON.parse(line) as { listening: string };
    return { child, url: parsed.listening };
  }
  throw new Error('static Fastify did not start');
}

function report(rows: Row[]): void {
  const ceiling = rows.find((r) => r.database === '-');
  const ceilingRps = ceiling ? median(ceiling.runs.map((r) => r.requestsPerSecond)) : Number.NaN;
  const out = process.stdout;
  out.write(
    `\nManager API, wrk ${CONNECTIONS} connections x ${THREADS} thread(s), ${DURATION_S}s x ${RUNS} runs (medians)\n`,
  );
  out.write(
    '| endpoint | database | req/s | p50 ms | p99 ms | errors | vs ceiling |\n|---|---|---|---|---|---|---|\n',
  );
  for (const row of rows) {
    const rps = median(row.runs.map((r) => r.requestsPerSecond));
    const p50 = median(row.runs.map((r) => r.p50Ms));
    const p99 = median(row.runs.map((r) => r.p99Ms));
    const errors = row.runs.reduce((a, r) => a + r.errors, 0);
    out.write(
      `| ${row.what} | ${row.database} | ${rps.toFixed(0)} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${errors} | ${formatRatio(rps / ceilingRps)} |\n`,
    );
  }
  out.write(
    `\nper-run req/s: ${rows.map((r) => `${r.what}/${r.database}: ${r.runs.map((x) => x.requestsPerSecond.toFixed(0)).join(', ')}`).join('; ')}\n`,
  );
}

await main();
