import { AcmeManager, type AcmeOptions } from '../../src/cloud/certs/acme.js';
import { CertificateStore, type CertificateStoreOptions } from '../../src/cloud/certs/certificate-store.js';
import { openCloudDatabase } from '../../src/cloud/db/database.js';
import type { CloudDatabase } from '../../src/cloud/db/schema.js';
import {
  type CloudAccess,
  CloudAccessSchema,
  type CloudPrincipal,
  cloudDenial,
} from '../../src/cloud/http/access.js';
import { registerCertificateRoutes } from '../../src/cloud/routes/certificates.js';
import { AuditLog } from '../../src/core/db/audit-log.js';
import { WarrenError } from '../../src/core/errors.js';
import { buildRestApp, type RestApp } from '../../src/core/http/app.js';
import { silentLogger } from '../../src/core/log.js';

/*
 * The certificate routes in-process (app.inject) on core's REST app with the
 * cloud's access rules, a real certificate store and ACME manager, and the
 * audit log in a real cloud database (SQLite). Signing in is the auth
 * routes' business and has its own tests: here the caller names the user
 * in `x-test-user` ('admin' or 'user'; none: not signed in).
 */

export interface CertificateApi {
  app: RestApp;
  store: CertificateStore;
  acme: AcmeManager;
  audit: AuditLog<CloudDatabase>;
  call(
    method: 'GET' | 'PUT' | 'POST',
    path: string,
    options?: { as?: 'admin' | 'user'; body?: unknown; rawBody?: string },
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  ): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startCertificateApi(options: {
  data: string;
  store: Omit<CertificateStoreOptions, 'log'>;
  acme?: Omit<AcmeOptions, 'dir' | 'domain' | 'store' | 'log'>;
}): Promise<CertificateApi> {
  const log = silentLogger();
  const store = await CertificateStore.open({ ...options.store, log });
  const acme = new AcmeManager({
    dir: options.store.dir,
    domain: options.store.domain,
    store,
    log,
    ...options.acme,
  });
  const database = await openCloudDatabase(
    {
      data: options.data,
      database: { url: '', passwordFile: '', sslMode: 'disable', caFile: '', poolSize: 1, timeoutMs: 10_000 },
    },
    log,
  );
  const audit = new AuditLog<CloudDatabase>(database.db, log);
  const app = await buildRestApp<CloudAccess, CloudPrincipal>({
    title: 'certificate routes under test',
    https: null,
    logger: log,
    accessSchema: CloudAccessSchema,
    async authenticate(req) {
      const role = req.headers['x-test-user'];
      if (role !== 'admin' && role !== 'user') throw new WarrenError('UNAUTHENTICATED', 'sign in first', 401);
      return {
        userId: `usr_${role}`,
        name: role,
        role,
        sessionId: `ses_${role}`,
        credentialId: `ses_${role}`,
      };
    },
    denial: cloudDenial,
    rateLimit: { perCredential: 1000, perAddress: 1000 },
    securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: '__Host-warren-session' } },
    security: [{ session: [] }],
  });
  registerCertificateRoutes(app, { store, acme, audit });
  await app.ready();
  return {
    app,
    store,
    acme,
    audit,
    async call(method, path, callOptions = {}) {
      const headers: Record<string, string> = {};
      if (callOptions.as) headers['x-test-user'] = callOptions.as;
      const payload =
        callOptions.rawBody ??
        (callOptions.body === undefined ? undefined : JSON.stringify(callOptions.body));
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const res = await app.inject({
        method,
        url: path,
        headers,
        ...(payload !== undefined ? { payload } : {}),
      });
      let body: unknown = res.body;
      try {
        body = res.body ? JSON.parse(res.body) : undefined;
      } catch {}
      return { status: res.statusCode, body };
    },
    async close() {
      store.stop();
      await app.close();
      await database.close();
    },
  };
}
