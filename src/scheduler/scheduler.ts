import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Registry } from 'prom-client';
import { errorMessage } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/log.js';
import { formatHostPort } from '../core/net.js';
import { newRegistry, type OpsServer, startOpsServer } from '../core/ops-server.js';
import type { TlsMaterial } from '../core/tls.js';
import { SchedulerService } from '../protocol/gen/scheduler_pb.js';
import { resolveSchedulerSettings, type SchedulerConfig, type SchedulerSettings } from './config.js';
import { Coordinator } from './coordinator.js';
import { callerKey, identityFromRequest } from './identity.js';
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
  private readonly log: Logger;
  private readonly coordinator: Coordinator;
  private readonly limiter: RateLimiter;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly timers: NodeJS.Timeout[] = [];
  private server: Http2SecureServer | undefined;
  private ops: OpsServer | undefined;
  private bound: SchedulerAddresses | undefined;

  constructor(options: SchedulerOptions) {
    this.settings = resolveSchedulerSettings(options.config);
    this.tls = options.tls;
    this.log = (options.logger ?? silentLogger()).child({ component: 'scheduler' });
    this.registry = newRegistry('scheduler');
    const metrics = createSchedulerMetrics(this.registry, () => ({
      peers: this.coordinator.resources.peerCount,
      tasks: this.coordinator.resources.tasks.size,
      hosts: this.coordinator.connectedHosts,
    }));
    this.coordinator = new Coordinator({ settings: this.settings, metrics, logger: this.log });
    this.limiter = new RateLimiter(this.settings);
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
    });
    const handler = connectNodeAdapter({
      routes: (router) => router.service(SchedulerService, service),
      contextValues: (req) => createContextValues().set(callerKey, identityFromRequest(req)),
      readMaxBytes: MAX_MESSAGE_BYTES,
      // Digests do not compress; gzip cost 1.1 s of CPU and a zlib context per
      // manifest in the 1,000-peer benchmark for nothing.
      acceptCompression: [],
    });
    const server = createSecureServer(
      {
        ...this.tls,
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
