import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { type CloudAuth, createCloudAuth, registerCloudAuthRoutes } from '../../src/cloud/auth/cloud-auth.js';
import { loadOrCreateInstanceSecret } from '../../src/cloud/auth/instance-secret.js';
import { type CloudDb, openCloudDatabase } from '../../src/cloud/db/database.js';
import type { CloudDatabase } from '../../src/cloud/db/schema.js';
import { buildCloudApp, type CloudApp } from '../../src/cloud/http/app.js';
import type { DatabaseSettings } from '../../src/core/db/database.js';
import { silentLogger } from '../../src/core/log.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * The cloud's console API in-process (app.inject, no sockets: the HTTPS path
 * through the gateway has its own tests), with every route of the sign-in
 * part, on SQLite or on a private PostgreSQL server shared by the test file.
 * The services run on a clock the test can move (idle and absolute expiry).
 */

export const ADMIN_PASSWORD = 'cloud-admin-password-for-tests';
export const CONSOLE_ORIGIN = 'https://cloud.example.test';
export const DOMAIN = 'cloud.example.test';

export type CloudDatabaseKind = 'sqlite' | 'postgres';

export interface ConsoleSession {
  /** `__Host-warren-session=<secret>`, as a Cookie header carries it. */
  cookie: string;
  csrf: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  user: any;
}

export interface ApiCallOptions {
  /** Sends the cookie, and the CSRF token unless `csrf` is set in it to ''. */
  session?: { cookie: string; csrf?: string };
  body?: unknown;
  headers?: Record<string, string>;
  /** Origin header: the console's by default on state-changing requests; null sends none. */
  origin?: string | null;
  /** The client address the request comes from (default 127.0.0.1). */
  address?: string;
}

export interface ApiResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  body: any;
  text: string;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface TestCloudApi extends CloudAuth {
  app: CloudApp;
  /** Alias of `access` (the AppAccess service). */
  appAccess: CloudAuth['access'];
  db: Kysely<CloudDatabase>;
  database: CloudDb;
  data: string;
  consoleOrigin: string;
  domain: string;
  /** The first admin's one-time password, when started with `adminPasswordFile: false`. */
  oneTimePassword: string | undefined;
  clock: { now(): number; advance(ms: number): void };
  login(
    name: string,
    password: string,
    options?: { totp?: string; address?: string },
  ): Promise<ConsoleSession>;
  call(method: string, path: string, options?: ApiCallOptions): Promise<ApiResult>;
  /** Inserts a row in apps, as an install would (access mode 'all' unless given). */
  addApp(id: string, mode?: 'all' | 'chosen'): Promise<void>;
  close(): Promise<void>;
}

export interface StartCloudApiOptions {
  database?: CloudDatabaseKind | { url: string; passwordFile: string };
  /** false: no password file, the admin gets a one-time password. Default: a file with {@link ADMIN_PASSWORD}. */
  adminPasswordFile?: string | false;
  /** Settings on top of the test defaults (login limits 5 per name, 20 per address). */
  settings?: Partial<Parameters<typeof createCloudAuth>[1]>;
  data?: string;
}

let server: Promise<TestPostgres> | undefined;

/** The test file's PostgreSQL server (started on first use); stop it with {@link stopCloudPostgres}. */
async function postgresDatabase(): Promise<{ url: string; passwordFile: string }> {
  server ??= startPostgres();
  const s = await server;
  return { url: await s.createDatabase(), passwordFile: s.passwordFile };
}

export async function stopCloudPostgres(): Promise<void> {
  const s = server;
  server = undefined;
  if (s) (await s).close();
}

/** The databases to run each case on: SQLite always, PostgreSQL where it can run (required under CI). */
export function cloudDatabaseKinds(): Array<{ kind: CloudDatabaseKind; skip: string | undefined }> {
  return [
    { kind: 'sqlite', skip: undefined },
    { kind: 'postgres', skip: requirePostgres() },
  ];
}

export async function startCloudApi(options: StartCloudApiOptions = {}): Promise<TestCloudApi> {
  const data = options.data ?? tempDir('warren-cloud-api-');
  const kind = options.database ?? 'sqlite';
  const pg = kind === 'sqlite' ? undefined : kind === 'postgres' ? await postgresDatabase() : kind;
  const databaseSettings: DatabaseSettings = {
    url: pg?.url ?? '',
    passwordFile: pg?.passwordFile ?? '',
    sslMode: 'disable',
    caFile: '',
    poolSize: 10,
    timeoutMs: 10_000,
  };
  const log = silentLogger();
  const database = await openCloudDatabase({ data, database: databaseSettings }, log);
  let offset = 0;
  const clock = {
    now: () => Date.now() + offset,
    advance: (ms: number) => {
      offset += ms;
    },
  };
  const auth = createCloudAuth(
    {
      db: database.db,
      dialect: database.dialect,
      log,
      instanceSecret: loadOrCreateInstanceSecret(data),
      now: clock.now,
    },
    {
      consoleOrigin: CONSOLE_ORIGIN,
      loginAttemptsPerMinute: 5,
      loginAttemptsPerAddress: 20,
      ...options.settings,
    },
  );
  let passwordFile: string | undefined;
  if (options.adminPasswordFile === undefined) {
    passwordFile = join(tempDir('warren-cloud-secrets-'), 'admin-password');
    writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
  } else if (options.adminPasswordFile !== false) {
    passwordFile = options.adminPasswordFile;
  }
  const admin = await auth.users.bootstrapAdmin(passwordFile);
  const app = await buildCloudApp({
    logger: log,
    sessions: auth.sessions,
    rateLimit: { perSession: 1000, perAddress: 1000 },
  });
  registerCloudAuthRoutes(app, auth, { consoleOrigin: CONSOLE_ORIGIN, domain: DOMAIN });
  await app.ready();

  const call = async (method: string, path: string, opts: ApiCallOptions = {}): Promise<ApiResult> => {
    const headers: Record<string, string> = {};
    const safe = method === 'GET' || method === 'HEAD';
    if (opts.origin !== null && (opts.origin !== undefined || !safe))
      headers.origin = opts.origin ?? CONSOLE_ORIGIN;
    if (opts.session) {
      headers.cookie = opts.session.cookie;
      if (opts.session.csrf) headers['x-csrf-token'] = opts.session.csrf;
    }
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, opts.headers);
    const res = await app.inject({
      method: method as 'GET',
      url: path,
      headers,
      remoteAddress: opts.address ?? '127.0.0.1',
      ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}),
    });
    let body: unknown = res.body;
    try {
      body = res.body ? JSON.parse(res.body) : undefined;
    } catch {}
    return { status: res.statusCode, body, text: res.body, headers: res.headers };
  };

  return {
    ...auth,
    app,
    appAccess: auth.access,
    db: database.db,
    database,
    data,
    consoleOrigin: CONSOLE_ORIGIN,
    domain: DOMAIN,
    oneTimePassword: admin.oneTimePassword,
    clock,
    call,
    async login(name, password, loginOptions = {}) {
      const res = await call('POST', '/api/v1/login', {
        body: { name, password, ...(loginOptions.totp ? { totp: loginOptions.totp } : {}) },
        address: loginOptions.address,
      });
      assert.equal(res.status, 200, `login ${name}: ${res.text}`);
      const setCookie = String(res.headers['set-cookie']);
      return { cookie: setCookie.split(';')[0]!, csrf: res.body.csrf_token, user: res.body.user };
    },
    async addApp(id, mode = 'all') {
      const now = new Date().toISOString();
      await database.db
        .insertInto('apps')
        .values({
          id,
          name: id,
          version: '1.0.0',
          sha256: '0'.repeat(64),
          maintainer_key: '',
          official: 0,
          state: 'running',
          state_detail: '',
          access_mode: mode,
          manifest: '{}',
          compose_yaml: '',
          images: '{}',
          installed_at: now,
          updated_at: now,
        })
        .execute();
    },
    async close() {
      await app.close();
      await database.close();
    },
  };
}

/** Runs `fn` with a fresh API on `kind`, closed afterwards whatever happens. */
export async function withCloudApi(
  kind: CloudDatabaseKind,
  fn: (api: TestCloudApi) => Promise<void>,
  options: StartCloudApiOptions = {},
): Promise<void> {
  const api = await startCloudApi({ database: kind, ...options });
  try {
    await fn(api);
  } finally {
    await api.close();
  }
}

/** Makes a user through an invitation and signs them in. */
export async function makeUser(
  api: TestCloudApi,
  admin: ConsoleSession,
  name: string,
  role: 'admin' | 'user' = 'user',
  password = `${name}-password-123`,
): Promise<ConsoleSession & { id: string; password: string }> {
  const invitation = await api.call('POST', '/api/v1/invitations', { session: admin, body: { role } });
  assert.equal(invitation.status, 201, invitation.text);
  const joined = await api.call('POST', '/api/v1/join', {
    body: { code: invitation.body.code, name, password },
  });
  assert.equal(joined.status, 201, joined.text);
  const session = await api.login(name, password);
  return { ...session, id: joined.body.user.id, password };
}
