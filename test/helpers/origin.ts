import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';
import type { TlsMaterial } from '../../src/core/tls.js';

/**
 * A file origin for tests: serves a folder over HTTP or HTTPS on 127.0.0.1
 * with HEAD, GET and single `bytes=` ranges, and counts the body bytes it
 * actually handed to the socket per path, so tests can assert how much the
 * P2P network pulled from the source.
 */
export interface OriginOptions {
  dir: string;
  /** Serve HTTPS with this certificate and key (`ca` is not used). */
  https?: TlsMaterial;
  /** Throttle all bodies together to this many bytes per second. */
  rateLimitBytesPerSec?: number;
  /** Answer 403 unless the request carries this header with this value. */
  requireHeader?: { name: string; value: string };
  /** false: ignore `Range` and do not send `Accept-Ranges`, like an origin without range support. */
  ranges?: boolean;
}

/** One request as the origin saw it. */
export interface OriginRequest {
  method: string;
  path: string;
  range: string | undefined;
  status: number;
  headers: IncomingHttpHeaders;
}

export interface Origin {
  readonly port: number;
  /** `http://127.0.0.1:PORT` or `https://…`. */
  readonly baseUrl: string;
  url(path: string): string;
  /** Body bytes written for `path` ('/a.bin' or 'a.bin'), or for all paths. */
  bytesSent(path?: string): number;
  /** Requests (any method) for `path`, or for all paths. */
  requests(path?: string): number;
  /** The requests seen (the last 10,000), optionally only those for `path`. */
  log(path?: string): OriginRequest[];
  /** Changes the shared rate limit from now on; undefined removes it. */
  setRateLimit(bytesPerSec: number | undefined): void;
  /** Zeroes the counters and the log. */
  reset(): void;
  close(): Promise<void>;
}

const READ_CHUNK = 256 * 1024;
const LOG_LIMIT = 10_000;

export async function startOrigin(options: OriginOptions): Promise<Origin> {
  const root = resolve(options.dir);
  const sent = new Map<string, number>();
  const counts = new Map<string, number>();
  const entries: OriginRequest[] = [];
  let pacer = options.rateLimitBytesPerSec ? new Pacer(options.rateLimitBytesPerSec) : undefined;

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const entry: OriginRequest = {
      method: req.method ?? 'GET',
      path: safePath(req.url),
      range: req.headers.range,
      status: 0,
      headers: req.headers,
    };
    entries.push(entry);
    if (entries.length > LOG_LIMIT) entries.shift();
    counts.set(entry.path, (counts.get(entry.path) ?? 0) + 1);
    const onBytes = (n: number) => sent.set(entry.path, (sent.get(entry.path) ?? 0) + n);
    serve(req, res, entry, { root, options, pacer, onBytes }).catch((err: unknown) => {
      if (!res.headersSent) finish(res, entry, 500, {}, String(err));
      else res.destroy();
    });
  };
  const server = options.https
    ? createHttpsServer({ cert: options.https.cert, key: options.https.key }, handler)
    : createHttpServer(handler);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `${options.https ? 'https' : 'http'}://127.0.0.1:${port}`;
  const sum = (map: Map<string, number>, path?: string) =>
    path === undefined ? [...map.values()].reduce((a, b) => a + b, 0) : (map.get(withSlash(path)) ?? 0);

  return {
    port,
    baseUrl,
    url: (path) => baseUrl + withSlash(path),
    bytesSent: (path) => sum(sent, path),
    requests: (path) => sum(counts, path),
    log: (path) => entries.filter((e) => path === undefined || e.path === withSlash(path)),
    setRateLimit(bytesPerSec) {
      pacer = bytesPerSec ? new Pacer(bytesPerSec) : undefined;
    },
    reset() {
      sent.clear();
      counts.clear();
      entries.length = 0;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

interface ServeContext {
  root: string;
  options: OriginOptions;
  pacer: Pacer | undefined;
  onBytes: (n: number) => void;
}

async function serve(req: IncomingMessage, res: ServerResponse, entry: OriginRequest, ctx: ServeContext) {
  const { options } = ctx;
  if (entry.method !== 'GET' && entry.method !== 'HEAD') {
    return finish(res, entry, 405, { Allow: 'GET, HEAD' }, 'method not allowed');
  }
  const required = options.requireHeader;
  if (required && req.headers[required.name.toLowerCase()] !== required.value) {
    return finish(res, entry, 403, {}, `missing header ${required.name}`);
  }
  const file = resolve(ctx.root, `.${entry.path}`);
  const stats = file.startsWith(ctx.root + sep) ? await stat(file).catch(() => undefined) : undefined;
  if (!stats?.isFile()) return finish(res, entry, 404, {}, 'not found');

  const size = stats.size;
  const ranges = options.ranges !== false;
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Last-Modified': stats.mtime.toUTCString(),
  };
  if (ranges) headers['Accept-Ranges'] = 'bytes';
  // RFC 9110 §14.2: range handling is defined for GET only.
  const range = ranges && entry.method === 'GET' ? parseRange(entry.range, size) : undefined;
  if (range === 'unsatisfiable') {
    return finish(
      res,
      entry,
      416,
      { ...headers, 'Content-Range': `bytes */${size}` },
      'range not satisfiable',
    );
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  headers['Content-Length'] = String(end - start + 1);
  entry.status = range ? 206 : 200;
  res.writeHead(entry.status, headers);
  if (entry.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await pump(createReadStream(file, { start, end, highWaterMark: READ_CHUNK }), res, ctx);
}

/** Writes the body, paced and counted; stops when the client goes away. */
async function pump(
  source: AsyncIterable<Buffer> & { destroy(): void },
  res: ServerResponse,
  ctx: ServeContext,
) {
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  const slice = ctx.pacer ? ctx.pacer.slice : READ_CHUNK;
  try {
    for await (const chunk of source) {
      for (let offset = 0; offset < chunk.length; offset += slice) {
        const part = chunk.subarray(offset, offset + slice);
        if (ctx.pacer) await ctx.pacer.take(part.length);
        if (closed) return;
        const ok = res.write(part, (err) => {
          if (!err) ctx.onBytes(part.length);
        });
        if (!ok) await drained(res);
      }
    }
    res.end();
  } finally {
    source.destroy();
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((ok) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      ok();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * A single `bytes=a-b`, `bytes=a-` or `bytes=-n`; anything else (several
 * ranges, other units, garbage) is ignored and the whole file is served, as
 * RFC 9110 allows.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

/**
 * Shared pacing for every body of one origin: each slice reserves its airtime
 * on one clock, so all connections together stay at the rate.
 */
class Pacer {
  private next = 0;
  readonly slice: number;

  constructor(private readonly bytesPerSec: number) {
    this.slice = Math.max(1024, Math.min(64 * 1024, Math.floor(bytesPerSec / 100)));
  }

  async take(n: number): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.next);
    this.next = start + (n * 1000) / this.bytesPerSec;
    if (start > now) await new Promise((ok) => setTimeout(ok, start - now));
  }
}

function finish(
  res: ServerResponse,
  entry: OriginRequest,
  status: number,
  headers: Record<string, string>,
  message: string,
): void {
  entry.status = status;
  const body = entry.method === 'HEAD' ? '' : `${message}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function safePath(url: string | undefined): string {
  const pathname = new URL(url ?? '/', 'http://origin').pathname;
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

function withSlash(path: string): string {
  return path.startsWith('/') ? path : `/${path}`;
}
