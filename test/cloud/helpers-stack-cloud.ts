import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PeerImages } from '../../src/cloud/apps/images.js';
import type { InstallHooks } from '../../src/cloud/apps/install-steps.js';
import { Installer } from '../../src/cloud/apps/installer.js';
import { PeerApiClient } from '../../src/cloud/apps/peer-client.js';
import { ReleaseFetcher } from '../../src/cloud/apps/release-fetch.js';
import { StoreIndexClient } from '../../src/cloud/apps/store-index.js';
import { type CloudAuth, createCloudAuth, registerCloudAuthRoutes } from '../../src/cloud/auth/cloud-auth.js';
import { loadOrCreateInstanceSecret } from '../../src/cloud/auth/instance-secret.js';
import { type CloudDb, openCloudDatabase } from '../../src/cloud/db/database.js';
import { DockerEngine } from '../../src/cloud/docker/engine.js';
import { buildCloudApp, type CloudApp } from '../../src/cloud/http/app.js';
import { registerAppsRoutes } from '../../src/cloud/routes/apps.js';
import { registerStoreRoutes } from '../../src/cloud/routes/store.js';
import { DockerSandbox } from '../../src/cloud/sandbox/sandbox.js';
import type { AppSandbox, SandboxCaps } from '../../src/cloud/sandbox/types.js';
import { tempDir } from '../helpers/tmp.js';
import type { CloudStack } from './helpers-stack.js';

/*
 * The cloud's side of the install tests (helpers-stack.ts starts the rest):
 * on a data folder, the database, the store index client, the release
 * fetcher and image loader through the stack's peer, the sandbox on the
 * stack's dockerd, the installer, and the console API in-process with the
 * apps and store routes, an admin signed in. Two clouds on one data folder
 * and engine are the same instance before and after a restart.
 */

export const INSTANCE_ID = 'install-tests';
export const ADMIN_PASSWORD = 'cloud-admin-password-for-install-tests';
export const CONSOLE_ORIGIN = 'https://cloud.install.test';
export const DOMAIN = 'cloud.install.test';
export const CAPS: SandboxCaps = { memoryBytes: 256 * 1024 * 1024, cpus: 1, pids: 256 };

export interface TestCloud {
  data: string;
  database: CloudDb;
  auth: CloudAuth;
  index: StoreIndexClient;
  peer: PeerApiClient;
  releases: ReleaseFetcher;
  sandbox: DockerSandbox;
  installer: Installer;
  app: CloudApp;
  admin: { cookie: string; csrf: string };
  /** Every log stream the logs route opened (to see a follow end with its client). */
  logStreams: Readable[];
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

export async function openTestCloud(
  stack: CloudStack,
  options: { data?: string; hooks?: InstallHooks },
): Promise<TestCloud> {
  const data = options.data ?? tempDir('warren-cloud-data-');
  const log = stack.log;
  const database = await openCloudDatabase(
    {
      data,
      database: { url: '', passwordFile: '', sslMode: 'disable', caFile: '', poolSize: 4, timeoutMs: 10_000 },
    },
    log,
  );
  const auth = createCloudAuth(
    { db: database.db, dialect: database.dialect, log, instanceSecret: loadOrCreateInstanceSecret(data) },
    { consoleOrigin: CONSOLE_ORIGIN, loginAttemptsPerMinute: 100, loginAttemptsPerAddress: 100 },
  );
  const passwordFile = join(data, 'admin-password');
  writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
  await auth.users.bootstrapAdmin(passwordFile);
  const index = new StoreIndexClient({
    db: database.db,
    log,
    storeUrl: stack.front.url,
    storeKey: stack.store.store.ctx.key.publicKey,
    caPem: readFileSync(stack.caBundle, 'utf8'),
  });
  const peer = new PeerApiClient(stack.peer.socket);
  const releases = new ReleaseFetcher({ dataDir: data, peer, store: index });
  const engine = new DockerEngine({ socketPath: stack.dockerd.socket });
  const sandbox = new DockerSandbox({ engine, caps: CAPS, instanceId: INSTANCE_ID, log });
  const images = new PeerImages({ mirror: stack.mirror, dockerSocket: stack.dockerd.socket, engine });
  const installer = new Installer({
    db: database.db,
    log,
    audit: auth.audit,
    sandbox,
    index,
    releases,
    images,
    access: auth.access,
    dataDir: data,
    ...(options.hooks ? { hooks: options.hooks } : {}),
  });
  await installer.open();
  const app = await buildCloudApp({
    logger: log,
    sessions: auth.sessions,
    rateLimit: { perSession: 1000, perAddress: 1000 },
  });
  registerCloudAuthRoutes(app, auth, { consoleOrigin: CONSOLE_ORIGIN, domain: DOMAIN });
  const logStreams: Readable[] = [];
  const logs: AppSandbox['logs'] = async (appId, logOptions) => {
    const stream = await sandbox.logs(appId, logOptions);
    logStreams.push(stream);
    return stream;
  };
  registerAppsRoutes(app, { installer, access: auth.access, sandbox: { logs }, domain: DOMAIN });
  registerStoreRoutes(app, { index, installer, releases, caps: CAPS });
  await app.ready();

  const inject = async (
    method: string,
    path: string,
    body: unknown,
    session?: { cookie: string; csrf: string },
  ) => {
    const headers: Record<string, string> = { origin: CONSOLE_ORIGIN };
    if (session) Object.assign(headers, { cookie: session.cookie, 'x-csrf-token': session.csrf });
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.inject({
      method: method as 'GET',
      url: path,
      headers,
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    let parsed: unknown = res.body;
    try {
      parsed = res.body ? JSON.parse(res.body) : undefined;
    } catch {}
    return { status: res.statusCode, body: parsed, text: res.body, headers: res.headers };
  };
  const login = await inject('POST', '/api/v1/login', { name: 'admin', password: ADMIN_PASSWORD });
  assert.equal(login.status, 200, login.text);
  const admin = {
    cookie: String(login.headers['set-cookie']).split(';')[0]!,
    csrf: (login.body as { csrf_token: string }).csrf_token,
  };
  return {
    data,
    database,
    auth,
    index,
    peer,
    releases,
    sandbox,
    installer,
    app,
    admin,
    logStreams,
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
    call: (method, path, body) => inject(method, path, body, admin) as Promise<any>,
    async close() {
      await installer.close();
      await app.close();
      await Promise.allSettled([index.close(), peer.close(), images.close(), engine.close()]);
      await database.close();
    },
  };
}
