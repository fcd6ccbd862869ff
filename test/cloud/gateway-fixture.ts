import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Gateway, type GatewayLimits } from '../../src/cloud/gateway/gateway.js';
import type { AppRoute, AppSessionGate, AppVisitor, GatewayRoutes } from '../../src/cloud/gateway/types.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';

/*
 * What the gateway tests share: a throwaway CA with a wildcard certificate,
 * test doubles of OUR interfaces (an AppSessionGate with single-use handoffs
 * and a GatewayRoutes over a map), real upstream node:http servers that echo
 * what they saw, and an HTTPS client that dials 127.0.0.1 with an SNI name.
 */

export const DOMAIN = 'cloud.test';

/** A gate as auth/ behaves: single-use handoff secrets, cookies bound to one app. */
export class TestGate implements AppSessionGate {
  readonly handoffs = new Map<string, { appId: string; visitor: AppVisitor }>();
  readonly sessions = new Map<string, { appId: string; visitor: AppVisitor }>();

  /** A handoff secret, as POST /api/v1/apps/:id/handoff would make one. */
  handoff(appId: string, visitor: AppVisitor): string {
    const secret = randomBytes(24).toString('base64url');
    this.handoffs.set(secret, { appId, visitor });
    return secret;
  }

  /** An app session cookie value, as a redeemed handoff would give. */
  session(appId: string, visitor: AppVisitor): string {
    const value = randomBytes(24).toString('base64url');
    this.sessions.set(value, { appId, visitor });
    return value;
  }

  async redeemHandoff(appId: string, secret: string) {
    const handoff = this.handoffs.get(secret);
    this.handoffs.delete(secret); // single use, even when refused for another app
    if (!handoff || handoff.appId !== appId) return undefined;
    return { cookieValue: this.session(appId, handoff.visitor), maxAgeSeconds: 3600 };
  }

  async visitor(appId: string, cookieValue: string) {
    const session = this.sessions.get(cookieValue);
    return session?.appId === appId ? session.visitor : undefined;
  }
}

export class TestRoutes implements GatewayRoutes {
  readonly apps = new Map<string, AppRoute>();
  consoleHits = 0;

  console(_req: IncomingMessage, res: ServerResponse): void {
    this.consoleHits++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end('console');
  }

  async app(appId: string) {
    return this.apps.get(appId);
  }
}

/** What an upstream saw of one request. */
export interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
  bodySha256: string;
  bodyBytes: number;
}

/** A real app: echoes what it saw as JSON; `/set-cookies` sets good and bad cookies; `/hang` never answers; upgrades echo. */
export async function startUpstream(): Promise<{
  server: Server;
  port: number;
  seen: Seen[];
  upgrades: Seen[];
}> {
  const seen: Seen[] = [];
  const upgrades: Seen[] = [];
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    req.on('end', () => {
      const record = {
        method: req.method!,
        url: req.url!,
        rawHeaders: req.rawHeaders,
        bodySha256: hash.digest('hex'),
        bodyBytes: bytes,
      };
      seen.push(record);
      if (req.url === '/hang') return;
      if (req.url === '/stall') {
        // Headers and part of the body, then silence.
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100 });
        res.write('partial');
        return;
      }
      if (req.url === '/set-cookies') {
        res.setHeader('set-cookie', [
          'theme=dark; Path=/; Secure',
          'parent=1; Domain=cloud.test; Path=/',
          'sibling=1; Path=/; domain=chat.cloud.test',
          '__Host-warren-app=forged; Path=/; Secure; HttpOnly',
          '__Host-warren-session=forged; Path=/; Secure',
        ]);
      }
      if (req.url?.startsWith('/big')) {
        const size = Number(new URL(req.url, 'http://x').searchParams.get('bytes'));
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const block = Buffer.alloc(64 * 1024, 7);
        let left = size;
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, block.length);
            left -= n;
            if (!res.write(block.subarray(0, n))) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        connection: 'keep-alive, X-Internal',
        'x-internal': 'hop',
      });
      res.end(JSON.stringify(record));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push({
      method: req.method!,
      url: req.url!,
      rawHeaders: req.rawHeaders,
      bodySha256: '',
      bodyBytes: 0,
    });
    const key = req.headers['sec-websocket-key'] ?? '';
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSet-Cookie: x=1; Domain=cloud.test\r\n\r\n`,
    );
    if (head.length) socket.write(head);
    socket.pipe(socket); // echo every byte
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, port: (server.address() as AddressInfo).port, seen, upgrades };
}

/** A gateway on loopback with a wildcard certificate from a throwaway CA, and a log that is kept. */
export async function startGateway(dir: string, limits: Partial<GatewayLimits> = {}) {
  const ca: TestCa = await makeTestCa(dir);
  const issued = await ca.issue('cloud', 'cloud-test', { hosts: [DOMAIN, `*.${DOMAIN}`] });
  const gate = new TestGate();
  const routes = new TestRoutes();
  const logLines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  const gateway = new Gateway({
    domain: DOMAIN,
    https: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    certificate: { cert: issued.material.cert, key: issued.material.key },
    routes,
    gate,
    limits,
    log,
  });
  await gateway.start();
  return { ca, caPem: ca.caPem, cert: issued.material.cert, gateway, gate, routes, logLines };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  fingerprint: string;
}

/** One HTTPS request to `host` (SNI and Host) at the gateway's 127.0.0.1 port, on a fresh connection. */
export function fetchVia(
  port: number,
  caPem: string,
  host: string,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | string;
    /** SNI name when it differs from `host`; with it the certificate is not checked. */
    servername?: string;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        servername: options.servername ?? host,
        ca: caPem,
        rejectUnauthorized: options.servername === undefined,
        method: options.method ?? 'GET',
        path,
        agent: false,
        // As a browser sends it: with the port when it is not 443.
        headers: { host: `${host}:${port}`, ...options.headers },
      },
      (res) => {
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body,
            text: body.toString('utf8'),
            fingerprint,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The value(s) of a header in a raw header array, names compared case-insensitively. */
export function rawValues(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}
