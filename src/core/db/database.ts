import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, type Migration, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { WarrenError } from '../errors.js';
import type { Logger } from '../log.js';
import { migrateToLatest } from './migrate.js';

export type Dialect = 'sqlite' | 'postgres';

/** The `database` configuration section of a role (manager, store), durations resolved. */
export interface DatabaseSettings {
  /** '' = SQLite file in the data folder; else postgres://user@host:port/db (no password). */
  url: string;
  passwordFile: string;
  sslMode: string;
  caFile: string;
  poolSize: number;
  timeoutMs: number;
}

/** An open, migrated database. */
export interface RoleDatabase<DB> {
  db: Kysely<DB>;
  dialect: Dialect;
  /** Where it is, without any secret (for logs and `/readyz`). */
  describe: string;
  /** Resolves when a trivial query succeeds; rejects with DATABASE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** The role's data folder: the SQLite file goes here. */
  data: string;
  database: DatabaseSettings;
  /** SQLite file name in `data`, e.g. 'manager.db'. */
  sqliteFile: string;
  /** PostgreSQL `application_name`, e.g. 'warren-manager'. */
  applicationName: string;
  /** The role's migrations, by name; applied in name order. */
  migrations: Record<string, Migration>;
}

/** Opens SQLite (`database.url` empty) or PostgreSQL and migrates it to the role's latest schema. */
export async function openDatabase<DB>(options: OpenDatabaseOptions, log: Logger): Promise<RoleDatabase<DB>> {
  const { url } = options.database;
  const opened =
    url === ''
      ? await openSqlite<DB>(options.data, options.sqliteFile)
      : await openPostgres<DB>(options.database, options.applicationName);
  try {
    const applied = await migrateToLatest(opened.db as Kysely<unknown>, options.migrations);
    if (applied.length > 0) log.info({ applied, database: opened.describe }, 'database migrated');
  } catch (err) {
    await opened.close();
    throw err;
  }
  return opened;
}

async function openSqlite<DB>(dataDir: string, fileName: string): Promise<RoleDatabase<DB>> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, fileName);
  // Password hashes and token hashes live here: owner-only, like the CA key.
  // SQLite gives its -wal and -shm files the database file's mode.
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
  // `libsql` ships a prebuilt binary with a better-sqlite3-compatible API.
  const { default: Sqlite } = await import('libsql');
  const file = new Sqlite(path);
  file.pragma('journal_mode = WAL');
  // WAL + NORMAL: a crash of the process loses nothing and the file is never
  // corrupted; a power cut may lose the last commits. FULL costs an fsync per
  // commit (measured: job creation 363/s with FULL, see docs/benchmarks.md).
  file.pragma('synchronous = NORMAL');
  file.pragma('foreign_keys = ON');
  file.pragma('busy_timeout = 5000');
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: file }) });
  return {
    db,
    dialect: 'sqlite',
    describe: `sqlite:${path}`,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

async function openPostgres<DB>(
  options: DatabaseSettings,
  applicationName: string,
): Promise<RoleDatabase<DB>> {
  let parsed: URL;
  try {
    parsed = new URL(options.url);
  } catch {
    throw new WarrenError('CONFIG_INVALID', "configuration key 'database.url' is not a URL", 400);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key 'database.url': unsupported scheme '${parsed.protocol}' (use postgres://)`,
      400,
    );
  }
  if (parsed.password !== '') {
    throw new WarrenError(
      'CONFIG_INVALID',
      "configuration key 'database.url' contains a password: put it in the file named by 'database.passwordFile' instead",
      400,
    );
  }
  const password = options.passwordFile ? readSecretFile(options.passwordFile) : undefined;
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username) || undefined,
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || undefined,
    password,
    ssl: sslOptions(options),
    max: options.poolSize,
    connectionTimeoutMillis: options.timeoutMs,
    query_timeout: options.timeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: applicationName,
  });
  // An idle client whose server went away emits 'error' on the pool; without a
  // listener that would crash the process. The next query reports the outage.
  pool.on('error', () => {});
  // A client that is checked out (a query or transaction under way) when the
  // server goes away emits 'error' itself, where the pool's idle listener is
  // not: without this the process would crash on a database outage. The query
  // still fails with the error, and the pool drops the broken client.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  const describe = `postgres://${parsed.username ? `${parsed.username}@` : ''}${parsed.host}${parsed.pathname}`;
  const ping = async () => {
    try {
      await sql`select 1`.execute(db);
    } catch (err) {
      throw databaseError(err);
    }
  };
  try {
    await ping();
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return { db, dialect: 'postgres', describe, ping, close: () => db.destroy() };
}

function sslOptions(options: DatabaseSettings) {
  const ca = options.caFile ? readFileSync(options.caFile, 'utf8') : undefined;
  switch (options.sslMode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // The chain is checked against the CA; the host name is not.
      return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    default:
      return { ca, rejectUnauthorized: true };
  }
}

function readSecretFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key 'database.passwordFile': cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? err})`,
      400,
    );
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

/** True when `err` means the database cannot be reached (not that a query was wrong). */
export function isDatabaseDown(err: unknown): boolean {
  if (err instanceof WarrenError) return err.code === 'DATABASE_UNAVAILABLE';
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code ?? '';
  if (CONNECTION_CODES.has(code)) return true;
  // 08xxx: connection exceptions; 57P01-57P03: admin shutdown, crash, cannot connect now.
  if (/^08|^57P0[1-3]$/.test(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED|Client has encountered a connection error/i.test(
    err.message,
  );
}

/** Maps a database failure to the error the API answers with. */
export function databaseError(err: unknown): Error {
  if (isDatabaseDown(err)) {
    return new WarrenError('DATABASE_UNAVAILABLE', 'the database is unavailable; try again shortly', 503);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** True when `err` is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || /UNIQUE constraint failed/i.test(e?.message ?? '');
}

/** Current time as stored: ISO-8601 UTC with milliseconds. */
export function nowIso(offsetMs = 0): string {
  return new Date(Date.now() + offsetMs).toISOString();
}

/** A new random id with a readable prefix, e.g. `usr_3f9c...`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
