import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { lookupUser } from './skip.js';
import { tempDir } from './tmp.js';

/*
 * A private PostgreSQL server per test file, from Debian's `postgresql`
 * binaries: its own data folder, port and password, run as the `postgres`
 * system user (the server refuses root). Tests can stop and start it for real
 * (the outage test) without touching any system cluster.
 */

/** The folder of initdb/pg_ctl, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  }
  return undefined;
}

/** Skip reason when PostgreSQL cannot run here; throws under CI (which must run everything). */
export function requirePostgres(): string | undefined {
  let reason: string | undefined;
  if (!postgresBinDir()) reason = "PostgreSQL is not installed (Debian package 'postgresql')";
  else if (process.getuid?.() !== 0)
    reason = 'the private PostgreSQL server needs root to run as user postgres';
  else if (!lookupUser('postgres')) reason = "system user 'postgres' does not exist";
  if (reason && process.env.CI) throw new Error(`${reason}, and CI must not skip tests (see .ci/run)`);
  return reason;
}

export interface TestPostgres {
  port: number;
  /** Writes a root-only file holding the password, as `database.passwordFile` wants. */
  passwordFile: string;
  /** Creates a fresh database and returns its URL (no password in it). */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown: connections are cut). */
  stop(): void;
  start(): void;
  /** Stops it for good and leaves the folder to tempDir cleanup. */
  close(): void;
}

export interface StartPostgresOptions {
  /** Serve TLS with this certificate and key (PEM): `ssl=on`, plain connections still allowed. */
  tls?: { cert: string; key: string };
}

export async function startPostgres(startOptions: StartPostgresOptions = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const user = lookupUser('postgres');
  if (!bin || !user) throw new Error('PostgreSQL is not installed');
  const dir = tempDir('warren-pg-');
  chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  const pwFile = join(dir, 'initdb-password');
  writeFileSync(pwFile, password, { mode: 0o600 });
  chownSync(pwFile, user.uid, user.gid);
  const asPostgres = { uid: user.uid, gid: user.gid, cwd: dir, stdio: 'pipe' as const };
  execFileSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'warren', `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync'],
    asPostgres,
  );
  const port = await freePort();
  const secrets = join(tempDir('warren-pgpass-'), 'password');
  mkdirSync(join(secrets, '..'), { recursive: true });
  writeFileSync(secrets, `${password}\n`, { mode: 0o600 });

  let options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  if (startOptions.tls) {
    // The server refuses a key readable by others; both files belong to postgres.
    for (const [name, content] of [
      ['server.crt', startOptions.tls.cert],
      ['server.key', startOptions.tls.key],
    ] as const) {
      writeFileSync(join(dir, name), content, { mode: 0o600 });
      chownSync(join(dir, name), user.uid, user.gid);
    }
    options += ` -c ssl=on -c ssl_cert_file=${join(dir, 'server.crt')} -c ssl_key_file=${join(dir, 'server.key')}`;
  }
  const pgCtl = (args: string[]) => {
    const r = spawnSync(join(bin, 'pg_ctl'), ['-D', data, ...args], { ...asPostgres, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`pg_ctl ${args[0]} failed: ${r.stderr}${r.stdout}`);
  };
  const start = () => pgCtl(['-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
  const stop = () => pgCtl(['-m', 'fast', '-w', 'stop']);
  start();
  let closed = false;
  process.once('exit', () => {
    if (!closed) spawnSync(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'], asPostgres);
  });

  return {
    port,
    passwordFile: secrets,
    async createDatabase(name = `w${randomBytes(6).toString('hex')}`) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'warren',
        password,
        database: 'postgres',
      });
      await client.connect();
      try {
        await client.query(`create database ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://warren@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    close() {
      if (closed) return;
      closed = true;
      try {
        stop();
      } catch {
        // already stopped
      }
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
