import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Registry } from 'prom-client';
import { CertificateKeeper } from '../core/certificates.js';
import { errorMessage } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/log.js';
import type { ManagerSync } from '../core/manager-sync.js';
import { formatHostPort } from '../core/net.js';
import { newRegistry, type OpsServer, startOpsServer } from '../core/ops-server.js';
import { protectServer } from '../core/revocation.js';
import type { TlsMaterial } from '../core/tls.js';
import type { TrustState } from '../core/trust.js';
import { renewThroughManager } from '../protocol/certificate-renewal.js';
import { SchedulerAdminService, SchedulerService } from '../protocol/gen/scheduler_pb.js';
import { resolveSchedulerSettings, type SchedulerConfig, type SchedulerSettings } from './config.js';
import { Coordinator } from './coordinator.js';
import { callerKey, identityFromRequest } from './identity.js';
import { createSchedulerAdminService } from './jobs/admin-service.js';
import { CommandBroker } from './jobs/command-broker.js';
import { startSchedulerManagerLink } from './manager-link.js';
import { createSchedulerMetrics } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import { createSchedulerService } from './service.js';

/** Largest request message accepted (a register with many held pieces fits easily). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Sessions still open this long after stop() are destroyed. */
const CLOSE_GRACE_MS = 1_000;

/** What a Scheduler is built from. */
export interface SchedulerOptions {
  /** A validated configuration (loadConfig with SchedulerConfigSchema). */
  config: SchedulerConfig;
  tls: TlsMaterial;
  logger?: Logger;
  /** What the manager says not to trust: clients with a revoked certificate are cut off. */
  trust?: TrustState;
  /** Renew our certificate (in `config.tlsDir`) through the manager's RPC at host:port. */
  renewal?: { manager: string };
}

/** Where a started scheduler listens, as host:port. */
export interface SchedulerAddresses {
  listen: string;
  ops: string;
}

/**
 * The scheduler role's composition root: the mTLS HTTP/2 server carrying the
 * SchedulerService, the ops server (metrics, health), and the periodic sweeps.
 */
export class Scheduler {
  readonly settings: SchedulerSettings;
  readonly registry: Registry;
  private readonly tls: TlsMaterial;
  private readonly trust: TrustState | undefined;
  private readonly config: SchedulerConfig;
  /** Sync with the manager, when `manager.address` is configured. */
  private manager: ManagerSync | undefined;
  /** Renews our certificate when `renewal` is set; `certificates.live` is the current material. */
  readonly certificates: CertificateKeeper | undefined;
  private unprotect: (() => void) | undefined;
  private readonly log: Logger;
  private readonly coordinator: Coordinator;
  private readonly limiter: RateLimiter;
  private readonly commands: CommandBroker;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly timers: NodeJS.Timeout[] = [];
  private server: Http2SecureServer | undefined;
  private ops: OpsServer | undefined;
  private bound: SchedulerAddresses | undefined;

  constructor(options: SchedulerOptions) {
    this.settings = resolveSchedulerSettings(options.config);
    this.tls = options.tls;
    this.log = (options.logger ?? silentLogger()).child({ component: 'scheduler' });
    this.trust = options.trust;
    this.config = options.config;
    if (options.renewal) {
      this.certificates = new CertificateKeeper({
        tlsDir: options.config.tlsDir,
        material: options.tls,
        renew: renewThroughManager(options.renewal.manager),
        log: this.log,
      });
    }
    this.registry = newRegistry('scheduler');
    const metrics = createSchedulerMetrics(this.registry, () => ({
      peers: this.coordinator.resources.peerCount,
      tasks: this.coordinator.resources.tasks.size,
      hosts: this.coordinator.connectedHosts,
    }));
    this.coordinator = new Coordinator({
      settings: this.settings,
      metrics,
      logger: this.log,
      // The manager's blocklist names hosts by id (certificate name) or by IP.
      isBlockedHost: (host) =>
        !!this.trust && (this.trust.isBlockedHost(host.id) || this.trust.isBlockedHost(host.ip)),
    });
    this.limiter = new RateLimiter(this.settings);
    this.commands = new CommandBroker(this.coordinator.hostLinks);
  }

  /** The bound addresses (port 0 in the config resolved); throws before start(). */
  get addresses(): SchedulerAddresses {
    if (!this.bound) throw new Error('scheduler not started');
    return this.bound;
  }

  /** Listens on the RPC and ops addresses; resolves once both accept connections. */
  async start(): Promise<SchedulerAddresses> {
    const server = this.createServer();
    this.server = server;
    const { host, port } = this.settings.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'scheduler server error'));
    const opsListen = this.settings.opsListen;
    this.ops = await startOpsServer({
      ...opsListen,
      registry: this.registry,
      ready: () => this.bound !== undefined,
    });
    this.startTimers();
    this.certificates?.start();
    if (this.config.manager.address) {
      this.manager = await startSchedulerManagerLink({
        config: this.config,
        listen: { host, port: (server.address() as AddressInfo).port },
        tls: () => this.certificates?.material ?? this.tls,
        trust: this.trust,
        coordinator: this.coordinator,
        log: this.log.child({ part: 'manager' }),
      });
    }
    this.bound = {
      listen: formatHostPort(host, (server.address() as AddressInfo).port),
      ops: formatHostPort(opsListen.host, this.ops.port),
    };
    this.log.info(this.bound, 'scheduler listening');
    return this.bound;
  }

  /** Ends every stream (peers see `unavailable`), closes the servers, stops the timers. */
  async stop(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await this.manager?.stop();
    this.manager = undefined;
    this.certificates?.stop();
    this.unprotect?.();
    this.commands.failAll('scheduler is stopping');
    this.coordinator.stop();
    this.bound = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of this.sessions) session.close();
      const grace = setTimeout(() => {
        for (const session of this.sessions) session.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    }
    await this.ops?.close();
    this.ops = undefined;
    this.log.info('scheduler stopped');
  }

  private createServer(): Http2SecureServer {
    const service = createSchedulerService({
      coordinator: this.coordinator,
      limiter: this.limiter,
      logger: this.log,
      commands: this.commands,
    });
    const admin = createSchedulerAdminService({
      coordinator: this.coordinator,
      broker: this.commands,
      registry: this.registry,
      logger: this.log,
      isBlockedHost: (hostId) => {
        const ip = this.coordinator.resources.hosts.get(hostId)?.info.ip;
        return !!this.trust && (this.trust.isBlockedHost(hostId) || (!!ip && this.trust.isBlockedHost(ip)));
      },
    });
    const handler = connectNodeAdapter({
      routes: (router) => router.service(SchedulerService, service).service(SchedulerAdminService, admin),
      contextValues: (req) => createContextValues().set(callerKey, identityFromRequest(req)),
      readMaxBytes: MAX_MESSAGE_BYTES,
      // Digests do not compress; gzip cost 1.1 s of CPU and a zlib context per
      // manifest in the 1,000-peer benchmark for nothing.
      acceptCompression: [],
    });
    const server = createSecureServer(
      {
        ...(this.certificates?.material ?? this.tls),
        requestCert: true,
        rejectUnauthorized: true,
        allowHTTP1: false,
        minVersion: 'TLSv1.2',
        settings: { maxConcurrentStreams: this.settings.maxStreamsPerConnection },
      },
      handler,
    );
    server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', (err) => this.log.debug({ err: errorMessage(err) }, 'http2 session error'));
    });
    server.on('tlsClientError', (err, socket) => {
      this.coordinator.metrics.refusals.inc({ reason: 'tls' });
      this.log.info({ remote: socket.remoteAddress, reason: errorMessage(err) }, 'TLS handshake refused');
    });
    this.unprotect = protectServer(server, {
      trust: this.trust,
      keeper: this.certificates,
      log: this.log,
      onRefused: () => this.coordinator.metrics.refusals.inc({ reason: 'revoked' }),
    });
    return server;
  }

  private startTimers(): void {
    const every = (ms: number, what: string, run: () => void) => {
      const timer = setInterval(() => {
        try {
          run();
        } catch (err) {
          this.log.error({ err }, `${what} failed`);
        }
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    const sweepMs = Math.max(100, Math.min(this.settings.peerIdleTimeoutMs / 4, 10_000));
    every(sweepMs, 'idle sweep', () => {
      this.coordinator.sweep();
      this.limiter.sweep();
    });
    every(this.settings.hostPingIntervalMs, 'host ping', () => this.coordinator.pingHosts());
  }
}
