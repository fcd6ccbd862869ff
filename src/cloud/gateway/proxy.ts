import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { downstreamResponseHeaders } from './headers.js';
import { sendPage } from './pages.js';

/*
 * Forwarding one request to an app over plain HTTP/1.1 on the app's
 * network: a keep-alive undici Pool per app (bounded connections), streaming
 * both ways with backpressure (nothing buffered), a body limit, and timeouts
 * that end in a clear page instead of a hang.
 *
 * undici's dispatch API rather than node:http's client: measured on the
 * benchmark machine, a bare proxy spends ~42 µs of CPU per request with
 * http.request + Agent and ~31 µs with Pool.dispatch (bench/gateway.ts).
 */

export interface ProxyLimits {
  /** Largest request body in bytes; beyond it 413. */
  maxBodyBytes: number;
  /** Connecting to the app; beyond it 502. */
  upstreamConnectTimeoutMs: number;
  /** From the request sent to the response's headers; beyond it 504. */
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

const MAX_POOLS = 1024;
/** Idle keep-alive connections are closed before a typical app server (5 s in Node) closes them. */
const KEEP_ALIVE_MS = 4000;

/** One keep-alive Pool per app, replaced when the app's address changes. */
export class UpstreamPools {
  readonly #pools = new Map<string, { key: string; pool: Pool }>();

  constructor(private readonly limits: ProxyLimits) {}

  poolFor(appId: string, upstream: Upstream): Pool {
    const key = upstream.host.includes(':')
      ? `[${upstream.host}]:${upstream.port}`
      : `${upstream.host}:${upstream.port}`;
    const entry = this.#pools.get(appId);
    if (entry?.key === key) return entry.pool;
    if (entry) void entry.pool.close().catch(() => {});
    this.#pools.delete(appId);
    if (this.#pools.size >= MAX_POOLS) {
      const [oldest, old] = this.#pools.entries().next().value!;
      void old.pool.close().catch(() => {});
      this.#pools.delete(oldest);
    }
    const pool = new Pool(`http://${key}`, {
      connections: this.limits.upstreamMaxSockets,
      pipelining: 1,
      connectTimeout: this.limits.upstreamConnectTimeoutMs,
      headersTimeout: this.limits.upstreamResponseTimeoutMs,
      bodyTimeout: this.limits.upstreamIdleTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: 30_000,
      strictContentLength: true,
    });
    this.#pools.set(appId, { key, pool });
    return pool;
  }

  async destroy(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.destroy().catch(() => {})));
  }
}

export interface ForwardJob {
  req: IncomingMessage;
  res: ServerResponse;
  appId: string;
  /** The request headers for the app (headers.ts). */
  headers: string[];
  pool: Pool;
  limits: ProxyLimits;
  log: Logger;
}

class BodyTooLarge extends Error {}
class ClientGone extends Error {}

/** Undici's parsed response headers back into the flat [name, value, …] shape. */
function flatten(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') out.push(name, value);
    else if (value) for (const one of value) out.push(name, one);
  }
  return out;
}

const RETRYABLE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** Forwards `job.req` to the app and its answer back to `job.res`. */
export function forward(job: ForwardJob, retried = false): void {
  const { req, res, limits } = job;
  const declared = req.headers['content-length'];
  const chunked = declared === undefined && req.headers['transfer-encoding'] !== undefined;
  const hasBody = chunked || (declared !== undefined && declared !== '0');
  if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
    tooLarge(res, limits.maxBodyBytes);
    return;
  }
  let controller: Dispatcher.DispatchController | undefined;
  let failure: Error | undefined;
  let started = false;
  const abort = (reason: Error) => {
    failure ??= reason;
    controller?.abort(reason);
  };
  const onClose = () => {
    if (!res.writableFinished) abort(new ClientGone('the client left'));
  };
  res.once('close', onClose);
  if (chunked) {
    // No declared length: count as it streams.
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBodyBytes) abort(new BodyTooLarge('request body too large'));
    });
  }
  const resume = () => controller?.resume();

  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (failure) c.abort(failure);
    },
    onResponseStart(_c, statusCode, headers) {
      if (statusCode < 200) return; // an informational answer: the final one follows
      started = true;
      res.writeHead(statusCode, downstreamResponseHeaders(flatten(headers)));
    },
    onResponseData(c, chunk) {
      if (!res.write(chunk)) {
        c.pause();
        res.once('drain', resume);
      }
    },
    onResponseEnd() {
      res.off('close', onClose);
      res.end();
    },
    onResponseError(_c, err) {
      res.off('close', onClose);
      if (started || res.headersSent) {
        res.destroy();
        return;
      }
      const reason = failure ?? err;
      if (reason instanceof ClientGone) return;
      if (reason instanceof BodyTooLarge) {
        tooLarge(res, limits.maxBodyBytes);
        return;
      }
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      // A kept-alive connection the app closed just as it was reused: try once more on a new one.
      if (!retried && !hasBody && (req.method === 'GET' || req.method === 'HEAD') && RETRYABLE.has(code)) {
        forward(job, true);
        return;
      }
      job.log.warn({ event: 'gateway_upstream_error', app: job.appId, reason: code, message: err.message });
      if (code === 'UND_ERR_HEADERS_TIMEOUT') {
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
    },
  };

  try {
    job.pool.dispatch(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: job.headers,
        body: hasBody ? req : null,
      },
      handler,
    );
  } catch (err) {
    // undici refused the request itself (a header or path it cannot send).
    res.off('close', onClose);
    job.log.warn({ event: 'gateway_request_refused', app: job.appId, message: errorMessage(err) });
    sendPage(res, 400, 'Bad request', 'This request cannot be passed on to the app.', {
      connection: 'close',
    });
  }
}

function tooLarge(res: ServerResponse, max: number): void {
  const size = max >= 1024 * 1024 ? `${Math.floor(max / 1024 / 1024)} MiB` : `${Math.floor(max / 1024)} KiB`;
  // `Connection: close`: the rest of the body is not read.
  sendPage(res, 413, 'Request too large', `The request body is larger than ${size}.`, {
    connection: 'close',
  });
}
