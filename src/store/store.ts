import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AuditLog } from '../core/db/audit-log.js';
import { WarrenError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/log.js';
import { formatHostPort } from '../core/net.js';
import { Accounts } from './auth/accounts.js';
import { StoreAuth } from './auth/auth-service.js';
import { resolveStoreSettings, type StoreConfig, type StoreSettings } from './config.js';
import type { StoreContext } from './context.js';
import { openStoreDatabase, type StoreDb } from './db/database.js';
import { buildStoreApp, type StoreApp } from './http/app.js';
import { IndexService } from './index/index-service.js';
import { loadOrCreateStoreKey } from './index/store-key.js';
import { BlobStore } from './releases/blobs.js';
import { registerStoreRoutes } from './routes/index.js';

export interface StoreOptions {
  config: StoreConfig;
  logger?: Logger;
}

/**
 * The store role's composition root: database, blob folder, the store's
 * signing key, the HTTPS API. HTTPS only: without a certificate it does not
 * start (maintainers send passwords and tokens, instances fetch the index).
 */
export class Store {
  readonly settings: StoreSettings;
  private readonly log: Logger;
  private database: StoreDb | undefined;
  private app: StoreApp | undefined;
  private context: StoreContext | undefined;
  private url: string | undefined;
  private oneTimeAdminPassword: string | undefined;

  constructor(options: StoreOptions) {
    this.settings = resolveStoreSettings(options.config);
    this.log = (options.logger ?? silentLogger()).child({ component: 'store' });
  }

  /** https://host:port of the API. */
  get address(): string {
    if (!this.url) throw new Error('store not started');
    return this.url;
  }

  /** The services, for `warren up` and tests that drive the store in-process. */
  get ctx(): StoreContext {
    if (!this.context) throw new Error('store not started');
    return this.context;
  }

  /** The admin's one-time password when this start created the admin without a password file. */
  get initialAdminPassword(): string | undefined {
    return this.oneTimeAdminPassword;
  }

  async start(): Promise<string> {
    const s = this.settings;
    const https = this.certificate();
    this.database = await openStoreDatabase(s, this.log);
    const db = this.database.db;
    const blobs = new BlobStore(s.data);
    await blobs.open();
    const key = await loadOrCreateStoreKey(s.data);
    if (key.created) this.log.info({ key_id: key.keyId }, 'created the store signing key');
    const ctx: StoreContext = {
      settings: s,
      log: this.log,
      database: this.database,
      db,
      audit: new AuditLog(db, this.log),
      accounts: new Accounts(db, { registration: s.registration, invitationTtlMs: s.invitationTtlMs }),
      auth: new StoreAuth(db, s),
      blobs,
      key,
      index: new IndexService(db, key, s.indexExpiryMs),
    };
    this.context = ctx;
    const admin = await ctx.accounts.bootstrapAdmin(s.adminPasswordFile);
    this.oneTimeAdminPassword = admin.oneTimePassword;
    if (admin.created) {
      await ctx.audit.record({
        actor: 'system',
        action: 'maintainer.create',
        target: 'maintainer:admin',
        address: '',
        detail: { admin: true, one_time_password: admin.oneTimePassword !== undefined },
      });
    }
    const app = await buildStoreApp({ https, logger: this.log, auth: ctx.auth, settings: s });
    await registerStoreRoutes(app, ctx);
    this.app = app;
    await app.listen({ host: s.listen.host, port: s.listen.port });
    const port = (app.server.address() as AddressInfo).port;
    const host = s.listen.host === '0.0.0.0' || s.listen.host === '::' ? '127.0.0.1' : s.listen.host;
    this.url = `https://${formatHostPort(host, port)}`;
    this.log.info({ url: this.url, key_id: key.keyId, database: this.database.describe }, 'store listening');
    return this.url;
  }

  async stop(): Promise<void> {
    this.url = undefined;
    await this.app?.close();
    this.app = undefined;
    await this.database?.close();
    this.database = undefined;
    this.log.info('store stopped');
  }

  private certificate(): { cert: string; key: string } {
    const { certFile, keyFile } = this.settings.tls;
    if (!certFile || !keyFile) {
      throw new WarrenError(
        'CONFIG_INVALID',
        "the store serves HTTPS only: set 'tls.certFile' and 'tls.keyFile' (e.g. from 'warren ca issue --role store')",
        400,
      );
    }
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }
}
