import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../core/log.js';
import { downstreamResponseHeaders } from './headers.js';
import { sendPage } from './pages.js';

/*
 * Forwarding one request to an app over plain HTTP/1.1 on the app's
 * network: a keep-alive Agent per app (bounded sockets), streaming both ways
 * with backpressure (nothing buffered), a body limit, and timeouts that end
 * in a clear page instead of a hang.
 *
 * node:http's client rather than undici's Pool (measured with
 * bench/gateway.ts, CPU per proxied request): undici is cheaper when the app
 * keeps connections alive (~37 vs ~49 µs) but much dearer when it closes
 * each one, as busybox httpd and other small servers do (~210 vs ~150 µs).
 */

export interface ProxyLimits {
  /** Largest request body in bytes; beyond it 413. */
  maxBodyBytes: number;
  /** Connecting to the app; beyond it 502. */
  upstreamConnectTimeoutMs: number;
  /** From the request sent (or queued for a connection) to the response's headers; beyond it 504. */
  upstreamResponseTimeoutMs: number;
  /** Longest silence between two chunks of the app's response body; beyond it the response is cut. */
  upstreamIdleTimeoutMs: number;
  /** Connections per app (requests beyond it wait for one). */
  upstreamMaxSockets: number;
}

export interface Upstream {
  host: string;
  port: number;
}

const MAX_AGENTS = 1024;
/** Idle keep-alive connections are closed before a typical app server (5 s in Node) closes them. */
const FREE_SOCKET_TIMEOUT_MS = 4000;

/** One keep-alive Agent per app, replaced when the app's address changes. */
export class UpstreamAgents {
  readonly #agents = new Map<string, { key: string; agent: Agent }>();

  constructor(private readonly maxSockets: number) {}

  agentFor(appId: string, upstream: Upstream): Agent {
    const key = `${upstream.host}:${upstream.port}`;
    const entry = this.#agents.get(appId);
    if (entry?.key === key) return entry.agent;
    entry?.agent.destroy();
    this.#agents.delete(appId);
    if (this.#agents.size >= MAX_AGENTS) {
      const [oldest, old] = this.#agents.entries().next().value!;
      old.agent.destroy();
      this.#agents.delete(oldest);
    }
    const agent = new Agent({
      keepAlive: true,
      maxSockets: this.maxSockets,
      maxFreeSockets: Math.min(this.maxSockets, 64),
      timeout: FREE_SOCKET_TIMEOUT_MS,
      scheduling: 'lifo',
    });
    this.#agents.set(appId, { key, agent });
    return agent;
  }

  destroy(): void {
    for (const { agent } of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

export interface ForwardJob {
  req: IncomingMessage;
  res: ServerResponse;
  appId: string;
  upstream: Upstream;
  /** The request headers for the app (headers.ts). */
  headers: string[];
  /** The request body's framing, as the client declared it. */
  body: { contentLength: number | undefined; chunked: boolean };
  agent: Agent;
  limits: ProxyLimits;
  log: Logger;
}

type Failure = 'connect-timeout' | 'response-timeout' | 'idle-timeout' | 'too-large' | 'client-gone';

/** Forwards `job.req` to the app and its answer back to `job.res`. */
export function forward(job: ForwardJob, retried = false): void {
  const { req, res, limits } = job;
  const { contentLength, chunked } = job.body;
  const hasBody = chunked || (contentLength !== undefined && contentLength > 0);
  if (contentLength !== undefined && contentLength > limits.maxBodyBytes) {
    tooLarge(res, limits.maxBodyBytes);
    return;
  }
  let failure: Failure | undefined;
  let responded = false;
  const upstream = request({
    host: job.upstream.host,
    port: job.upstream.port,
    method: req.method,
    path: req.url,
    // A chunked body stays chunked: without it node:http would send a GET's body unframed.
    headers: chunked ? [...job.headers, 'Transfer-Encoding', 'chunked'] : job.headers,
    agent: job.agent,
  });
  const fail = (why: Failure) => {
    failure ??= why;
    upstream.destroy(new Error(why));
  };

  // One timer for the wait (a free connection, then the response's
  // headers); it waits on while the client is still sending its body.
  const waiting = setTimeout(() => {
    if (responded) return;
    if (!upstream.writableFinished && upstream.socket && !upstream.socket.connecting) waiting.refresh();
    else fail('response-timeout');
  }, limits.upstreamResponseTimeoutMs);
  upstream.once('socket', (socket: Socket) => {
    if (!socket.connecting) return;
    const connecting = setTimeout(() => fail('connect-timeout'), limits.upstreamConnectTimeoutMs);
    socket.once('connect', () => clearTimeout(connecting));
    socket.once('close', () => clearTimeout(connecting));
  });

  upstream.once('response', (upRes: IncomingMessage) => {
    responded = true;
    clearTimeout(waiting);
    if (res.destroyed) {
      upRes.destroy();
      return;
    }
    res.writeHead(upRes.statusCode ?? 502, downstreamResponseHeaders(upRes.rawHeaders));
    // Data as it comes, paused while the client is slower than the app.
    let idle: NodeJS.Timeout | undefined;
    const resume = () => upRes.resume();
    upRes.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        upRes.pause();
        res.once('drain', resume);
      }
      idle?.refresh();
    });
    upRes.once('end', () => {
      if (idle) clearTimeout(idle);
      res.end();
    });
    upRes.once('error', () => res.destroy());
    upRes.once('close', () => {
      if (idle) clearTimeout(idle);
      if (!upRes.complete) res.destroy();
    });
    if (!upRes.complete) idle = setTimeout(() => fail('idle-timeout'), limits.upstreamIdleTimeoutMs);
  });

  upstream.once('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(waiting);
    if (responded) {
      res.destroy();
      return;
    }
    if (failure === 'client-gone') return;
    // A kept-alive connection the app closed just as it was reused: try once more on a new one.
    if (
      !failure &&
      !retried &&
      upstream.reusedSocket &&
      !hasBody &&
      (req.method === 'GET' || req.method === 'HEAD')
    ) {
      forward(job, true);
      return;
    }
    const why = failure ?? err.code ?? 'error';
    job.log.warn({ event: 'gateway_upstream_error', app: job.appId, reason: why, message: err.message });
    if (failure === 'too-large') {
      tooLarge(res, limits.maxBodyBytes);
    } else if (failure === 'response-timeout') {
      const seconds = Math.round(limits.upstreamResponseTimeoutMs / 1000);
      sendPage(
        res,
        504,
        'The app did not answer in time',
        `App ${job.appId} did not answer within ${seconds} s.`,
        {
          connection: 'close',
        },
      );
    } else {
      sendPage(
        res,
        502,
        'The app is not answering',
        `App ${job.appId} is not answering. It may be starting or have stopped; try again in a moment.`,
        { 'retry-after': 5, connection: 'close' },
      );
    }
  });

  // The client left: stop the app's side too.
  res.once('close', () => {
    clearTimeout(waiting);
    if (!res.writableFinished) fail('client-gone');
  });

  if (!hasBody) {
    upstream.end();
    return;
  }
  if (contentLength === undefined) {
    // Chunked: count as it streams.
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBodyBytes && !failure) {
        req.unpipe(upstream);
        fail('too-large');
      }
    });
  }
  req.pipe(upstream);
}

function tooLarge(res: ServerResponse, max: number): void {
  const size = max >= 1024 * 1024 ? `${Math.floor(max / 1024 / 1024)} MiB` : `${Math.floor(max / 1024)} KiB`;
  // `Connection: close`: the rest of the body is not read.
  sendPage(res, 413, 'Request too large', `The request body is larger than ${size}.`, {
    connection: 'close',
  });
}
