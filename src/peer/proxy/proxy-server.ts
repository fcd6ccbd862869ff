import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { Counter, type Registry } from 'prom-client';
import { errorMessage, isWarrenError, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { formatHostPort } from '../../core/net.js';
import type { LeafCertificates } from './leaf-certs.js';
import { type P2PComponents, serveThroughP2P } from './p2p.js';
import { passThrough, Upstreams } from './pass-through.js';
import { type AllowList, controlValues, matchesP2P, type ProxyRule, parseAuthority } from './rules.js';
import { openTunnel, refuseSocket } from './tunnel.js';

export interface ProxyComponents extends P2PComponents {
  log: Logger;
  registry: Registry;
}

export interface ProxyInit {
  host: string;
  port: number;
  rules: ProxyRule[];
  allow: AllowList;
  /** Hosts whose CONNECT tunnels are opened, with the CA that mints their certificates. */
  intercept?: { hosts: Set<string>; leaves: LeafCertificates };
  /** Ports CONNECT may reach; empty: any. */
  connectPorts: Set<number>;
  maxConnections: number;
  idleTimeout: number;
  /** Extra CA bundle (PEM) trusted for HTTPS origins besides the system's. */
  extraCa?: string;
  /** Longest time a client may take to send a request's headers (default 15 s). */
  headersTimeout?: number;
}

const MAX_HEADER_SIZE = 16 * 1024;
const HEADERS_TIMEOUT = 15_000;

/** How a malformed or too slow request is answered, by node's error code. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

type Route = 'p2p' | 'direct' | 'tunnel' | 'intercept' | 'refused';

/**
 * The peer as an HTTP proxy. Plain requests in absolute form: a GET whose URL
 * matches a rule is answered from P2P, anything else goes straight to the
 * origin. CONNECT opens a blind tunnel, or, for the operator's intercepted
 * hosts, terminates TLS with a certificate from their CA and applies the
 * same rules to the `https://` requests inside.
 */
export class ProxyServer {
  private readonly front: NetServer;
  /** Parses HTTP on accepted connections (plain ones and opened tunnels); never listens itself. */
  private readonly http: Server;
  private readonly sockets = new Set<Socket>();
  /** `https://host[:port]` of the connection an intercepted request came in on. */
  private readonly intercepted = new WeakMap<Duplex, string>();
  private readonly upstreams: Upstreams;
  private readonly requests: Counter<'route'>;

  constructor(
    private readonly c: ProxyComponents,
    private readonly init: ProxyInit,
  ) {
    this.upstreams = new Upstreams({
      maxSockets: init.maxConnections,
      idleTimeout: init.idleTimeout,
      extraCa: init.extraCa,
    });
    this.requests = new Counter({
      name: 'warren_proxy_requests_total',
      help: 'Proxy requests and tunnels, by how they were served',
      labelNames: ['route'],
      registers: [c.registry],
    });
    this.http = createHttpServer(
      { maxHeaderSize: MAX_HEADER_SIZE, requestTimeout: 0, connectionsCheckingInterval: 1_000 },
      (req, res) => this.onRequest(req, res),
    );
    this.http.headersTimeout = init.headersTimeout ?? HEADERS_TIMEOUT;
    this.http.keepAliveTimeout = 5_000;
    this.http.timeout = init.idleTimeout;
    this.http.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onConnect(req, socket, head),
    );
    this.http.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      const [status, reason] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Bad Request'];
      if (socket.writable) refuseSocket(socket, status, reason, reason.toLowerCase());
      else socket.destroy();
    });
    this.front = createNetServer((socket) => this.accept(socket));
  }

  get port(): number {
    return (this.front.address() as AddressInfo).port;
  }

  get address(): string {
    return formatHostPort(this.init.host, this.port);
  }

  async start(): Promise<void> {
    this.front.listen(this.init.port, this.init.host);
    await once(this.front, 'listening');
    // The HTTP server only parses connections handed to it; 'listening' is
    // what starts its periodic check of headersTimeout (slow-header clients).
    this.http.emit('listening');
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.front.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.upstreams.close();
    this.http.close(() => undefined); // stops that check; it never listened itself
    await closed;
  }

  /** Who may connect, and how many at once, is decided before a byte is parsed. */
  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (!this.init.allow.allows(socket.remoteAddress)) {
      this.requests.inc({ route: 'refused' });
      // Debug only: a refused stranger must not be able to fill the log (the metric counts them).
      this.c.log.debug({ client: socket.remoteAddress }, 'proxy client outside proxy.allow refused');
      refuseSocket(socket, 403, 'Forbidden', 'this client may not use the proxy (proxy.allow)');
      return;
    }
    if (this.sockets.size >= this.init.maxConnections) {
      this.requests.inc({ route: 'refused' });
      refuseSocket(socket, 503, 'Service Unavailable', 'too many proxy connections; try again');
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.http.emit('connection', socket);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err) => {
      if (isWarrenError(err) && err.status < 500)
        this.c.log.debug({ err: err.message }, 'proxy request refused');
      else this.c.log.warn({ url: withoutQuery(req.url), err: errorMessage(err) }, 'proxy request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const e = isWarrenError(err) ? err : new WarrenError('PROXY_ERROR', errorMessage(err), 502);
      res.writeHead(e.status, { 'content-type': 'application/json', 'x-warren-error': e.code });
      res.end(JSON.stringify(e.toJSON()));
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = this.targetOf(req);
    const control = controlValues(req.headers);
    const url = target.toString();
    if (req.method === 'GET' && control.useP2P && matchesP2P(this.init.rules, url)) {
      this.count('p2p', req);
      return serveThroughP2P(this.c, req, res, url, control);
    }
    if (control.digest) {
      // Straight through, nothing would check it: refused rather than silently unverified.
      throw new WarrenError(
        'DIGEST_NEEDS_P2P',
        'x-warren-digest applies only to GETs the proxy rules send through P2P',
        400,
      );
    }
    this.count('direct', req);
    return passThrough(req, res, target, this.upstreams, this.init.idleTimeout);
  }

  private count(route: Route, req: IncomingMessage): void {
    this.requests.inc({ route });
    this.c.log.debug({ route, method: req.method, url: withoutQuery(req.url) }, 'proxy request');
  }

  /** The URL a request is for: absolute form on the proxy, origin form inside an opened tunnel. */
  private targetOf(req: IncomingMessage): URL {
    const base = this.intercepted.get(req.socket);
    const raw = req.url ?? '';
    let url: URL | undefined;
    try {
      if (base !== undefined) url = raw.startsWith('/') ? new URL(base + raw) : undefined;
      else if (/^https?:\/\//i.test(raw)) url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (!url) {
      throw new WarrenError(
        'NOT_A_PROXY_REQUEST',
        base === undefined
          ? `'${raw.slice(0, 200)}' is not an absolute http(s) URL: this is a proxy (curl -x)`
          : `'${raw.slice(0, 200)}' is not a path`,
        400,
      );
    }
    // Inside a tunnel the host is the one the certificate was minted for, whatever Host says.
    if (base !== undefined && url.origin !== base)
      throw new WarrenError('BAD_REQUEST', 'bad request target', 400);
    return url;
  }

  private onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.intercepted.has(socket)) {
      refuseSocket(socket, 405, 'Method Not Allowed', 'CONNECT inside a tunnel is not supported');
      return;
    }
    const target = parseAuthority(req.url ?? '');
    if (!target) {
      refuseSocket(socket, 400, 'Bad Request', 'CONNECT needs host:port');
      return;
    }
    if (this.init.connectPorts.size > 0 && !this.init.connectPorts.has(target.port)) {
      this.requests.inc({ route: 'refused' });
      refuseSocket(
        socket,
        403,
        'Forbidden',
        `CONNECT to port ${target.port} is not allowed (proxy.connectPorts)`,
      );
      return;
    }
    const intercept = this.init.intercept;
    if (intercept?.hosts.has(target.host)) {
      this.requests.inc({ route: 'intercept' });
      this.interceptTunnel(socket, head, target, intercept.leaves).catch((err) => {
        this.c.log.warn({ host: target.host, err: errorMessage(err) }, 'cannot intercept');
        refuseSocket(socket, 502, 'Bad Gateway', 'cannot intercept this host');
      });
      return;
    }
    this.requests.inc({ route: 'tunnel' });
    openTunnel(socket, head, target, this.init.idleTimeout, (err) =>
      this.c.log.debug({ target: req.url, err: errorMessage(err) }, 'tunnel failed'),
    );
  }

  /**
   * Answers the CONNECT, then speaks TLS to the client as `host` with a leaf
   * from the operator's CA, and parses the requests inside like any other.
   */
  private async interceptTunnel(
    socket: Socket,
    head: Buffer,
    target: { host: string; port: number },
    leaves: LeafCertificates,
  ): Promise<void> {
    const context = await leaves.contextFor(target.host);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
    });
    tls.on('error', () => socket.destroy());
    tls.setTimeout(this.init.idleTimeout, () => tls.destroy());
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    this.intercepted.set(tls, `https://${host}${target.port === 443 ? '' : `:${target.port}`}`);
    this.http.emit('connection', tls);
  }
}

/** A URL for the logs: query strings often carry signatures and tokens. */
function withoutQuery(url: string | undefined): string {
  return (url ?? '').split('?')[0]!.slice(0, 2048);
}
