import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/core/config.js';
import {
  formatPublicKeyLine,
  generateMaintainerKey,
  type MaintainerKeyPair,
} from '../../src/core/release/keys.js';
import { formatSignature, signRelease } from '../../src/core/release/signature.js';
import { StoreConfigSchema } from '../../src/store/config.js';
import { Store } from '../../src/store/store.js';
import type { StartManagerOptions } from './manager.js';
import { makeTestCa } from './tls.js';
import { tempDir } from './tmp.js';

/*
 * The store in-process for tests (HTTPS with a certificate from a throwaway
 * CA), on SQLite or on a private PostgreSQL (see databaseFactory in
 * manager.ts), with helpers to make maintainers and upload releases.
 */

export const ADMIN_PASSWORD = 'store-admin-password-for-tests';

export interface CallOptions {
  /** API token: `Authorization: Bearer`. */
  token?: string;
  /** Console session: the cookie, and the CSRF token when given. */
  session?: { cookie: string; csrf?: string };
  body?: unknown;
  /** A raw body (a zip) instead of JSON. */
  raw?: Buffer;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  body: any;
  text: string;
  bytes: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

export interface TestStore {
  store: Store;
  url: string;
  caPem: string;
  caFile: string;
  data: string;
  call(method: string, path: string, options?: CallOptions): Promise<CallResult>;
  stop(): Promise<void>;
}

export interface StartStoreOptions {
  database?: StartManagerOptions['database'];
  flags?: Record<string, unknown>;
  data?: string;
}

export async function startTestStore(options: StartStoreOptions = {}): Promise<TestStore> {
  const data = options.data ?? tempDir('warren-store-');
  const pki = tempDir('warren-store-pki-');
  const ca = await makeTestCa(pki);
  const cert = await ca.issue('store', 'store', { hosts: ['127.0.0.1', 'localhost'] });
  const passwordFile = join(pki, 'admin-password');
  writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
  const config = loadConfig(StoreConfigSchema, {
    env: {},
    flags: {
      data,
      listen: '127.0.0.1:0',
      logLevel: 'silent',
      adminPasswordFile: passwordFile,
      'tls.certFile': join(cert.dir, 'tls.crt'),
      'tls.keyFile': join(cert.dir, 'tls.key'),
      ...(options.database
        ? { 'database.url': options.database.url, 'database.passwordFile': options.database.passwordFile }
        : {}),
      ...options.flags,
    },
  });
  const store = new Store({ config });
  const url = await store.start();
  const dispatcher = new Agent({ connect: { ca: ca.caPem }, connections: 16 });
  return {
    store,
    url,
    caPem: ca.caPem,
    caFile: join(ca.caDir, 'ca.crt'),
    data,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.session) {
        headers.cookie = opts.session.cookie;
        if (opts.session.csrf) headers['x-csrf-token'] = opts.session.csrf;
      }
      let body: string | Buffer | undefined;
      if (opts.raw !== undefined) {
        headers['content-type'] ??= 'application/zip';
        body = opts.raw;
      } else if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      const res = await request(`${url}${path}`, { method: method as 'GET', headers, body, dispatcher });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      const text = bytes.toString('utf8');
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {}
      return { status: res.statusCode, body: parsed, text, bytes, headers: res.headers };
    },
    async stop() {
      await store.stop();
      await dispatcher.close();
    },
  };
}

export interface Session {
  cookie: string;
  csrf: string;
}

/** Logs in; returns the cookie (name=value) and the CSRF token. */
export async function storeLogin(s: TestStore, name: string, password: string): Promise<Session> {
  const res = await s.call('POST', '/api/v1/auth/login', { body: { name, password } });
  assert.equal(res.status, 200, `login ${name}: ${res.text}`);
  const setCookie = String(res.headers['set-cookie']);
  return { cookie: setCookie.split(';')[0]!, csrf: res.body.csrf_token };
}

export interface TestMaintainer {
  name: string;
  password: string;
  keys: MaintainerKeyPair;
  /** An API token (bearer). */
  token: string;
  session: Session;
}

/** Registers a maintainer with an admin's invitation and a fresh key, and gives them an API token. */
export async function makeMaintainer(
  s: TestStore,
  name: string,
  keys = generateMaintainerKey(),
): Promise<TestMaintainer> {
  const admin = await storeLogin(s, 'admin', ADMIN_PASSWORD);
  const invitation = await s.call('POST', '/api/v1/invitations', { session: admin });
  assert.equal(invitation.status, 201, invitation.text);
  const password = `${name}-password-123`;
  const registered = await s.call('POST', '/api/v1/maintainers', {
    body: {
      name,
      password,
      public_key: formatPublicKeyLine(keys.publicKey, `${name}@test`),
      invitation: invitation.body.code,
    },
  });
  assert.equal(registered.status, 201, registered.text);
  const session = await storeLogin(s, name, password);
  const token = await s.call('POST', '/api/v1/tokens', { session, body: { name: 'cli', expires_in: '1d' } });
  assert.equal(token.status, 201, token.text);
  return { name, password, keys, token: token.body.token, session };
}

/** The base64 signature header for the zip at `path`, signed by `keys` as `appId` `version`. */
export async function signatureHeader(
  path: string,
  keys: MaintainerKeyPair,
  appId: string,
  version: string,
): Promise<string> {
  const sig = await signRelease(path, keys.privateKey, { id: appId, version });
  return Buffer.from(formatSignature(sig)).toString('base64');
}
