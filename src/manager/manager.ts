import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { AuditLog } from '../core/db/audit-log.js';
import { type Logger, silentLogger } from '../core/log.js';
import { formatHostPort } from '../core/net.js';
import { registryAccess } from '../core/oci/registry-access.js';
import { newRegistry, type OpsServer, startOpsServer } from '../core/ops-server.js';
import type { TlsMaterial } from '../core/tls.js';
import { AuthService } from './auth/auth-service.js';
import { CertificateAuthority } from './ca/authority.js';
import { ClusterStore } from './clusters/cluster-store.js';
import { ClusterState } from './clusters/state.js';
import { type ManagerConfig, type ManagerSettings, resolveManagerSettings } from './config.js';
import type { ManagerContext } from './context.js';
import { type ManagerDatabase, openDatabase } from './db/database.js';
import { buildApp, type ManagerApp } from './http/app.js';
import { activeSchedulers, Jobs } from './jobs/jobs.js';
import { registerRoutes } from './routes/index.js';
import { startRpcServer } from './rpc/rpc-server.js';

export interface ManagerOptions {
  config: ManagerConfig;
  logger?: Logger;
}

/** Where a started manager listens. */
export interface ManagerAddresses {
  /** https://host:port of the REST API. */
  api: string;
  /** host:port of the mTLS RPC server. */
  rpc: string;
  ops: string;
}

/**
 * The manager role's composition root: database, built-in CA, REST API,
 * RPC server for components, ops server, and the background loops.
 */
export class Manager {
  readonly settings: ManagerSettings;
  readonly registry: Registry;
  private readonly log: Logger;
  private database: ManagerDatabase | undefined;
  private app: ManagerApp | undefined;
  private ops: OpsServer | undefined;
  private context: ManagerContext | undefined;
  private bound: ManagerAddresses | undefined;
  private oneTimeRootPassword: string | undefined;
  private readonly stops: Array<() => Promise<void> | void> = [];

  constructor(options: ManagerOptions) {
    this.settings = resolveManagerSettings(options.config);
    this.log = (options.logger ?? silentLogger()).child({ component: 'manager' });
    this.registry = newRegistry('manager');
  }

  get addresses(): ManagerAddresses {
    if (!this.bound) throw new Error('manager not started');
    return this.bound;
  }

  /** The services, for `warren up` and tests that drive the manager in-process. */
  get ctx(): ManagerContext {
    if (!this.context) throw new Error('manager not started');
    return this.context;
  }

  async start(): Promise<ManagerAddresses> {
    const s = this.settings;
    this.database = await openDatabase(s, this.log);
    const db = this.database.db;
    const ca = await CertificateAuthority.open(s.data, db, this.log, { cacheRefreshMs: s.cacheRefreshMs });
    const hosts = [s.listen.host, s.rpcListen.host, ...s.advertiseHosts].filter(
      (h) => h !== '0.0.0.0' && h !== '::',
    );
    const tls = await ca.managerMaterial(s.data, hosts);
    const ctx: ManagerContext = {
      settings: s,
      log: this.log,
      database: this.database,
      db,
      audit: new AuditLog(db, this.log),
      ca,
      auth: new AuthService({
        db,
        dialect: this.database.dialect,
        settings: s,
        log: this.log,
        caFingerprint: ca.fingerprint,
      }),
      tls,
      clusters: new ClusterState({
        store: new ClusterStore(db),
        log: this.log.child({ part: 'clusters' }),
        refreshMs: s.cacheRefreshMs,
        keepaliveMs: s.keepaliveIntervalMs,
        inactiveAfterMs: s.inactiveAfterMs,
        revokedSerials: () => ca.revokedSerials(),
      }),
      jobs: new Jobs({
        db,
        settings: s,
        log: this.log,
        tls,
        schedulers: (clusterId) => activeSchedulers(ctx.clusters, clusterId),
      }),
      registries: registryAccess(s.registries, { connectTimeout: 10_000, bodyTimeout: 15_000 }),
    };
    this.context = ctx;
    this.stops.push(() => ctx.registries.close());
    await this.bootstrapRoot(ctx);
    await ctx.clusters.start();
    this.stops.push(() => ctx.clusters.stop());
    await ctx.jobs.runner.start();
    this.stops.push(() => ctx.jobs.runner.stop());
    const rpc = await startRpcServer(ctx);
    this.stops.push(() => rpc.close());

    const app = await buildApp({
      https: this.restCertificate(tls),
      logger: this.log,
      authenticator: ctx.auth,
      rateLimit: s.rateLimit,
    });
    await registerRoutes(app, ctx);
    this.app = app;
    await app.listen({ host: s.listen.host, port: s.listen.port });
    const apiPort = (app.server.address() as AddressInfo).port;

    this.ops = await startOpsServer({
      ...s.opsListen,
      registry: this.registry,
      ready: () => this.bound !== undefined,
    });
    this.bound = {
      api: `https://${formatHostPort(s.listen.host, apiPort)}`,
      rpc: rpc.address,
      ops: formatHostPort(s.opsListen.host, this.ops.port),
    };
    this.log.info({ ...this.bound, database: this.database.describe }, 'manager listening');
    return this.bound;
  }

  async stop(): Promise<void> {
    this.bound = undefined;
    for (const stop of this.stops.splice(0).reverse()) await stop();
    await this.app?.close();
    this.app = undefined;
    await this.ops?.close();
    this.ops = undefined;
    await this.database?.close();
    this.database = undefined;
    this.log.info('manager stopped');
  }

  /**
   * The first root's one-time password, when this start created that user
   * without `rootPasswordFile`: shown once by `warren manager`/`warren up`
   * (never logged). Undefined otherwise.
   */
  get initialRootPassword(): string | undefined {
    return this.oneTimeRootPassword;
  }

  /** Creates the first root on an empty users table (auth/users.ts). */
  private async bootstrapRoot(ctx: ManagerContext): Promise<void> {
    const root = await ctx.auth.users.bootstrapRoot(this.settings.rootPasswordFile);
    this.oneTimeRootPassword = root.oneTimePassword;
    if (root.created) {
      await ctx.audit.record({
        actor: 'system',
        action: 'user.create',
        target: 'user:root',
        address: '',
        detail: { role: 'root', one_time_password: root.oneTimePassword !== undefined },
      });
    }
  }

  /** The operator's certificate if configured, else the one from the built-in CA. */
  private restCertificate(tls: TlsMaterial): { cert: string; key: string } {
    const { certFile, keyFile } = this.settings.tls;
    if (certFile && keyFile) {
      return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    }
    return { cert: tls.cert, key: tls.key };
  }
}
