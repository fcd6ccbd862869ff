import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorMessage, WarrenError } from '../../core/errors.js';
import { type Logger, silentLogger } from '../../core/log.js';
import { AppAdmission, COOKIE_VALUE } from './admission.js';
import { clientAddress, type RequestFacts, requestFacts, upstreamRequestHeaders } from './headers.js';
import {
  classifyHost,
  consoleOpenUrl,
  type HostTarget,
  httpsUrl,
  normalizeDomain,
  pathOf,
  queryParam,
  safeLocalPath,
} from './hosts.js';
import {
  checkCertificate,
  DEFAULT_GATEWAY_LIMITS,
  type GatewayCertificate,
  type GatewayLimits,
  listen,
} from './limits.js';
import { refuseSocket, sendJsonError, sendPage } from './pages.js';
import { forward, UpstreamAgents } from './proxy.js';
import { APP_COOKIE, type AppSessionGate, type GatewayRoutes, HANDOFF_PATH } from './types.js';
import { forwardUpgrade } from './upgrade.js';

/*
 * The cloud's one HTTPS listener: the console at `<domain>`, each app at
 * `<app>.<domain>` for signed-in users with an app session (set by a
 * one-time handoff), everything else refused; plus an optional plain-HTTP
 * listener that only redirects to HTTPS.
 */

export { DEFAULT_GATEWAY_LIMITS, type GatewayCertificate, type GatewayLimits } from './limits.js';

export interface GatewayOptions {
  /** The console's host name; apps are `<app>.<domain>`. */
  domain: string;
  https: { host: string; port: number };
  /**
   * A plain-HTTP listener that only redirects to https:// (same host and
   * path; 301 for GET/HEAD, 308 otherwise). `redirectPort` is the HTTPS port
   * clients use (default: the HTTPS listener's; 443 is left out of URLs).
   */
  http?: { host: string; port: number; redirectPort?: number };
  certificate: GatewayCertificate;
  routes: GatewayRoutes;
  gate: AppSessionGate;
  limits?: Partial<GatewayLimits>;
  log?: Logger;
}

const MAX_SECRET_LENGTH = 512;

export class Gateway {
  readonly #domain: string;
  readonly #options: GatewayOptions;
  readonly #limits: GatewayLimits;
  readonly #log: Logger;
  readonly #agents: UpstreamAgents;
  readonly #admission: AppAdmission;
  readonly #tunnels = new Set<Duplex>();
  readonly #https: HttpsServer;
  #http: Server | undefined;

  constructor(options: GatewayOptions) {
    this.#options = options;
    this.#domain = normalizeDomain(options.domain);
    this.#limits = { ...DEFAULT_GATEWAY_LIMITS, ...options.limits };
    this.#log = options.log ?? silentLogger();
    this.#agents = new UpstreamAgents(this.#limits.upstreamMaxSockets);
    this.#admission = new AppAdmission(this.#domain, options.routes, options.gate, this.#log);
    const limits = this.#limits;
    if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
      throw new WarrenError('BAD_LIMITS', 'gateway headersTimeoutMs must not exceed requestTimeoutMs', 400);
    }
    checkCertificate(options.certificate);
    const common = {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often Node looks for clients past headersTimeout/requestTimeout.
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(limits.headersTimeoutMs / 4))),
      requireHostHeader: true,
      noDelay: true,
    };
    this.#https = createHttpsServer(
      {
        ...common,
        cert: options.certificate.cert,
        key: options.certificate.key,
        minVersion: 'TLSv1.2',
        handshakeTimeout: limits.tlsHandshakeTimeoutMs,
        ALPNProtocols: ['http/1.1'],
      },
      (req, res) => this.#onRequest(req, res),
    );
    this.#https.keepAliveTimeout = limits.keepAliveTimeoutMs;
    this.#https.maxConnections = limits.maxConnections;
    this.#https.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    if (options.http) {
      this.#http = createHttpServer(common, (req, res) => this.#redirect(req, res));
      this.#http.keepAliveTimeout = limits.keepAliveTimeoutMs;
      this.#http.maxConnections = limits.maxConnections;
    }
  }

  /** Starts listening (HTTPS, then the redirecting HTTP listener if configured). */
  async start(): Promise<void> {
    await listen(this.#https, this.#options.https.host, this.#options.https.port);
    if (this.#http && this.#options.http)
      await listen(this.#http, this.#options.http.host, this.#options.http.port);
  }

  /** Stops listening and ends every connection, tunnels and app sockets included. */
  async stop(): Promise<void> {
    const closing = [this.#https, this.#http]
      .filter((s): s is Server | HttpsServer => s?.listening === true)
      .map((s) => {
        const closed = once(s, 'close');
        s.close();
        s.closeAllConnections();
        return closed;
      });
    for (const tunnel of this.#tunnels) tunnel.destroy();
    this.#tunnels.clear();
    this.#agents.destroy();
    await Promise.all(closing);
  }

  /**
   * Serves a new certificate to every new connection (open ones keep the old
   * one). The same wildcard certificate answers `<domain>`, `*.<domain>` and
   * any other SNI name.
   */
  setCertificate(certificate: GatewayCertificate): void {
    checkCertificate(certificate);
    this.#https.setSecureContext({ cert: certificate.cert, key: certificate.key });
  }

  /** Where the listeners are (after start). */
  get address(): { https: { host: string; port: number }; http?: { host: string; port: number } } {
    const of = (s: Server | HttpsServer) => {
      const a = s.address() as AddressInfo | null;
      if (!a) throw new WarrenError('GATEWAY_NOT_STARTED', 'the gateway is not listening', 500);
      return { host: a.address, port: a.port };
    };
    return { https: of(this.#https), ...(this.#http?.listening ? { http: of(this.#http) } : {}) };
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const facts = requestFacts(req.rawHeaders);
    const target = classifyHost(facts.host, this.#domain);
    if (target.kind === 'console') {
      try {
        this.#options.routes.console(req, res);
      } catch (err) {
        this.#internalError(res, 'console', err);
      }
      return;
    }
    if (target.kind === 'app') {
      this.#serveApp(req, res, target, facts).catch((err: unknown) =>
        this.#internalError(res, target.appId, err),
      );
      return;
    }
    this.#refuseHost(res, target);
  }

  async #serveApp(
    req: IncomingMessage,
    res: ServerResponse,
    target: HostTarget & { kind: 'app' },
    facts: RequestFacts,
  ): Promise<void> {
    const { appId } = target;
    if (!req.url?.startsWith('/')) {
      // Absolute-form or `*` targets are for proxies and servers, not apps.
      sendPage(res, 400, 'Bad request', 'The request target must be a path.');
      return;
    }
    if (pathOf(req.url) === HANDOFF_PATH) return this.#handoff(req, res, appId);
    const admitted = await this.#admission.admit(req.method ?? 'GET', facts, appId, target.port);
    if ('refusal' in admitted) {
      const { status, code, message, title, retryAfter } = admitted.refusal;
      if (
        status === 401 &&
        (req.method === 'GET' || req.method === 'HEAD') &&
        facts.accept?.includes('text/html')
      ) {
        // A browser without an app session: the console asks for a handoff.
        res.writeHead(302, {
          location: consoleOpenUrl(this.#domain, target.port, appId),
          'cache-control': 'no-store',
          'content-length': 0,
        });
        res.end();
      } else if (title) {
        sendPage(res, status, title, message, retryAfter ? { 'retry-after': retryAfter } : {});
      } else {
        sendJsonError(res, status, code, message);
      }
      return;
    }
    const { visitor, route } = admitted;
    forward({
      req,
      res,
      appId,
      upstream: route,
      headers: upstreamRequestHeaders(req.rawHeaders, {
        clientIp: clientAddress(req.socket.remoteAddress),
        host: facts.host!,
        visitor,
      }),
      body: { contentLength: facts.contentLength, chunked: facts.chunked },
      agent: this.#agents.agentFor(appId, route),
      limits: this.#limits,
      log: this.#log,
    });
  }

  /** `GET /.warren/handoff?secret=…`: a one-time secret from the console becomes the app's session cookie. */
  async #handoff(req: IncomingMessage, res: ServerResponse, appId: string): Promise<void> {
    if (req.method !== 'GET') {
      sendPage(res, 405, 'Method not allowed', 'Open this link with GET.', { allow: 'GET' });
      return;
    }
    const secret = queryParam(req.url, 'secret');
    const redeemed =
      secret && secret.length <= MAX_SECRET_LENGTH
        ? await this.#options.gate.redeemHandoff(appId, secret)
        : undefined;
    if (!redeemed) {
      this.#log.info({ event: 'gateway_handoff_refused', app: appId });
      sendPage(
        res,
        403,
        'This link cannot be used',
        `This link to open ${appId} was already used, has expired or is for another app. Open the app again from the console.`,
      );
      return;
    }
    if (!COOKIE_VALUE.test(redeemed.cookieValue) || !(redeemed.maxAgeSeconds > 0)) {
      throw new WarrenError('BAD_APP_SESSION', 'the app session cookie is not well-formed', 500);
    }
    const route = await this.#options.routes.app(appId);
    const location = safeLocalPath(route?.kind === 'running' ? route.urlPath : '/');
    res.writeHead(303, {
      location,
      'set-cookie': `${APP_COOKIE}=${redeemed.cookieValue}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(redeemed.maxAgeSeconds)}`,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'content-length': 0,
    });
    res.end();
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const target = classifyHost(req.headers.host, this.#domain);
    if (target.kind !== 'app') {
      const status = target.kind === 'foreign' ? 421 : 404;
      refuseSocket(socket, status, 'NOT_FOUND', 'upgrades are served for apps only');
      return;
    }
    this.#upgradeApp(req, socket, head, target).catch((err: unknown) => {
      this.#log.error({ event: 'gateway_error', app: target.appId, message: errorMessage(err) });
      refuseSocket(socket, 500, 'INTERNAL', 'the gateway failed');
    });
  }

  async #upgradeApp(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    { appId, port }: HostTarget & { kind: 'app' },
  ): Promise<void> {
    if (!req.url?.startsWith('/') || pathOf(req.url) === HANDOFF_PATH) {
      refuseSocket(socket, 404, 'NOT_FOUND', 'no upgrade here');
      return;
    }
    const admitted = await this.#admission.admit(
      req.method ?? 'GET',
      requestFacts(req.rawHeaders),
      appId,
      port,
    );
    if ('refusal' in admitted) {
      const { status, code, message } = admitted.refusal;
      refuseSocket(socket, status, code, message);
      return;
    }
    const { visitor, route } = admitted;
    forwardUpgrade({
      req,
      socket,
      head,
      appId,
      upstream: { host: route.host, port: route.port },
      headers: upstreamRequestHeaders(req.rawHeaders, {
        clientIp: clientAddress(req.socket.remoteAddress),
        host: req.headers.host!,
        visitor,
        upgrade: true,
      }),
      handshakeTimeoutMs: this.#limits.upgradeTimeoutMs,
      log: this.#log,
      tunnels: this.#tunnels,
    });
  }

  /** The plain-HTTP listener: every request for our names goes to https://, nothing is served. */
  #redirect(req: IncomingMessage, res: ServerResponse): void {
    const target = classifyHost(req.headers.host, this.#domain);
    if (target.kind !== 'console' && target.kind !== 'app') {
      this.#refuseHost(res, target);
      return;
    }
    const host = target.kind === 'app' ? `${target.appId}.${this.#domain}` : this.#domain;
    const port = this.#options.http?.redirectPort ?? this.address.https.port;
    const path = req.url?.startsWith('/') ? req.url : '/';
    res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 301 : 308, {
      location: httpsUrl(host, port, path),
      'content-length': 0,
      connection: 'close',
    });
    res.end();
  }

  #refuseHost(res: ServerResponse, target: HostTarget): void {
    if (target.kind === 'no-app') {
      sendPage(res, 404, 'No such app', `There is no app at this address under ${this.#domain}.`);
    } else {
      sendPage(res, 421, 'Misdirected request', `This server answers for ${this.#domain} and its apps only.`);
    }
  }

  #internalError(res: ServerResponse, appId: string, err: unknown): void {
    this.#log.error({ event: 'gateway_error', app: appId, message: errorMessage(err) });
    sendPage(
      res,
      500,
      'Something went wrong',
      'The gateway could not handle this request. Try again in a moment.',
    );
  }
}
