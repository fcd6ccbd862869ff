import { Agent, request } from 'undici';
import { loadConfig } from '../../src/core/config.js';
import { ManagerConfigSchema } from '../../src/manager/config.js';
import { Manager } from '../../src/manager/manager.js';
import { requirePostgres, startPostgres, type TestPostgres } from './postgres.js';
import { tempDir } from './tmp.js';

/*
 * The manager in-process for tests, on SQLite or on a private PostgreSQL
 * server: `forEachDatabase` runs a suite on both, so the same assertions hold
 * on the two (PostgreSQL is required under CI, skipped with a reason elsewhere).
 */

export type DatabaseKind = 'sqlite' | 'postgres';

export interface TestManager {
  manager: Manager;
  /** https://127.0.0.1:port */
  api: string;
  rpc: string;
  caPem: string;
  data: string;
  /** Calls the REST API; JSON in and out; never throws on a status. */
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  ): Promise<{ status: number; body: any; headers: Record<string, string | string[] | undefined> }>;
  stop(): Promise<void>;
}

export interface StartManagerOptions {
  database?: { url: string; passwordFile: string };
  /** Config keys (dotted paths) on top of the test defaults. */
  flags?: Record<string, unknown>;
  data?: string;
  env?: NodeJS.ProcessEnv;
}

export async function startTestManager(options: StartManagerOptions = {}): Promise<TestManager> {
  const data = options.data ?? tempDir('warren-manager-');
  const config = loadConfig(ManagerConfigSchema, {
    env: options.env ?? {},
    flags: {
      data,
      listen: '127.0.0.1:0',
      rpcListen: '127.0.0.1:0',
      opsListen: '127.0.0.1:0',
      logLevel: 'silent',
      ...(options.database
        ? { 'database.url': options.database.url, 'database.passwordFile': options.database.passwordFile }
        : {}),
      ...options.flags,
    },
  });
  const manager = new Manager({ config });
  const addresses = await manager.start();
  const caPem = manager.ctx.ca.caPem;
  const dispatcher = new Agent({ connect: { ca: caPem }, connections: 16 });
  return {
    manager,
    api: addresses.api,
    rpc: addresses.rpc,
    caPem,
    data,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      const res = await request(`${addresses.api}${path}`, {
        method: method as 'GET',
        headers,
        body,
        dispatcher,
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {}
      return { status: res.statusCode, body: parsed, headers: res.headers };
    },
    async stop() {
      await manager.stop();
      await dispatcher.close();
    },
  };
}

/** The databases a suite runs on here: SQLite always, PostgreSQL when it can run. */
export function databaseKinds(): Array<{ kind: DatabaseKind; skip: string | undefined }> {
  return [
    { kind: 'sqlite', skip: undefined },
    { kind: 'postgres', skip: requirePostgres() },
  ];
}

/**
 * Gives a fresh database of `kind` per call: nothing for SQLite (a new data
 * folder is a new database), a new database on one shared private server for
 * PostgreSQL. Call `close()` in `after`.
 */
export function databaseFactory(kind: DatabaseKind) {
  let server: TestPostgres | undefined;
  return {
    async next(): Promise<StartManagerOptions['database']> {
      if (kind === 'sqlite') return undefined;
      server ??= await startPostgres();
      return { url: await server.createDatabase(), passwordFile: server.passwordFile };
    },
    get server(): TestPostgres | undefined {
      return server;
    },
    close() {
      server?.close();
    },
  };
}
