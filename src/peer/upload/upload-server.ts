import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CertificateKeeper } from '../../core/certificates.js';
import type { Logger } from '../../core/log.js';
import { protectServer } from '../../core/revocation.js';
import { isTaskId } from '../../core/task.js';
import { identityOf, type TlsMaterial } from '../../core/tls.js';
import { TokenBucket, throttle } from '../../core/token-bucket.js';
import type { TrustState } from '../../core/trust.js';
import type { StoredTask } from '../storage/stored-task.js';
import type { TaskStore } from '../storage/task-store.js';

export interface UploadServerInit {
  host: string;
  port: number;
  tls: TlsMaterial;
  /** Upload bandwidth in bytes per second for all uploads together; 0 = unlimited. */
  rateLimit: number;
  /** Range requests served at once; more get 503 + Retry-After. */
  concurrency: number;
  /** Clients whose certificate the manager revoked are cut off. */
  trust?: TrustState;
  /** Serves our renewed certificate on new connections. */
  certificates?: CertificateKeeper;
}

/** Roles allowed to fetch pieces: other peers and seed peers. */
const ALLOWED_ROLES = new Set(['peer', 'seed']);

/**
 * Serves verified pieces to other peers over HTTP/1.1 with mutual TLS
 * (`GET /tasks/{id}` with a Range) and tells children which pieces it holds
 * (`GET /tasks/{id}/pieces`, NDJSON, kept open while the task grows).
 */
export class UploadServer {
  private server: Server | undefined;
  private unprotect: (() => void) | undefined;
  private active = 0;
  private readonly bucket: TokenBucket;
  private readonly bytes: Counter;
  private readonly refused: Counter;
  private readonly gauge: Gauge;

  constructor(
    private readonly components: { store: TaskStore; log: Logger; registry: Registry },
    private readonly init: UploadServerInit,
  ) {
    this.bucket = new TokenBucket(init.rateLimit, Math.max(init.rateLimit / 10, 4 * 1024 * 1024));
    const registers = [components.registry];
    this.bytes = new Counter({
      name: 'warren_upload_bytes_total',
      help: 'Piece bytes sent to other peers',
      registers,
    });
    this.refused = new Counter({
      name: 'warren_upload_refused_total',
      help: 'Upload requests refused',
      labelNames: ['reason'],
      registers,
    });
    this.gauge = new Gauge({ name: 'warren_uploads_active', help: 'Uploads in progress', registers });
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  async start(): Promise<void> {
    const server = createServer(
      {
        ca: this.init.tls.ca,
        cert: this.init.tls.cert,
        key: this.init.tls.key,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      (req, res) => {
        this.handle(req, res).catch((err) => {
          this.components.log.warn({ err: String(err), url: req.url }, 'upload failed');
          if (!res.headersSent) res.writeHead(500).end();
          else res.destroy();
        });
      },
    );
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 0; // piece streams of slow children may legitimately take long
    server.maxHeadersCount = 50;
    this.unprotect = protectServer(server, {
      trust: this.init.trust,
      keeper: this.init.certificates,
      log: this.components.log,
      onRefused: () => this.refused.inc({ reason: 'revoked' }),
    });
    this.server = server;
    server.listen(this.init.port, this.init.host);
    await once(server, 'listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.unprotect?.();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const who = identityOf(req.socket as TLSSocket);
    if (!who || !ALLOWED_ROLES.has(who.role)) {
      this.refused.inc({ reason: 'role' });
      return json(res, 403, 'FORBIDDEN', 'only peers and seed peers may fetch pieces');
    }
    const match = /^\/tasks\/([0-9a-f]{64})(\/pieces)?$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !match || !isTaskId(match[1]!))
      return json(res, 404, 'NOT_FOUND', 'no such route');
    const task = this.components.store.get(match[1]!);
    if (!task?.hasShape) return json(res, 404, 'TASK_NOT_FOUND', 'this peer does not have that task');
    if (match[2]) return this.streamPieces(task, req, res);
    return this.sendRange(task, req, res);
  }

  private async sendRange(task: StoredTask, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const contentLength = task.meta.contentLength!;
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const start = Number(range?.[1]);
    const end = Number(range?.[2]) + 1;
    if (!range || start >= end || end > contentLength) {
      return json(res, 416, 'BAD_RANGE', `a Range of bytes=a-b within ${contentLength} bytes is required`);
    }
    const pieceLength = task.meta.pieceLength!;
    if (!task.pieces.hasAll(Math.floor(start / pieceLength), Math.floor((end - 1) / pieceLength))) {
      this.refused.inc({ reason: 'not_held' });
      return json(res, 404, 'PIECE_NOT_HELD', 'this peer does not hold every piece of that range yet');
    }
    if (this.active >= this.init.concurrency) {
      this.refused.inc({ reason: 'busy' });
      res.setHeader('retry-after', '1');
      return json(res, 503, 'BUSY', 'upload concurrency limit reached');
    }
    this.active++;
    this.gauge.inc();
    const release = task.acquire();
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    try {
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': end - start,
        'content-range': `bytes ${start}-${end - 1}/${contentLength}`,
      });
      const stream = task.createReadStream(start, end);
      abort.signal.addEventListener('abort', () => stream.destroy(), { once: true });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const wait = throttle(this.bucket, chunk.length, abort.signal);
        if (wait) await wait;
        this.bytes.inc(chunk.length);
        if (!res.write(chunk)) await once(res, 'drain', { signal: abort.signal });
      }
      res.end();
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      release();
      this.active--;
      this.gauge.dec();
    }
  }

  /** NDJSON: {"pieces":[held]} then {"piece":n} per new piece, {"done":true} at the end. */
  private streamPieces(task: StoredTask, req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.write(`${JSON.stringify({ pieces: task.pieces.toArray() })}\n`);
    if (task.complete) {
      res.end(`${JSON.stringify({ done: true })}\n`);
      return;
    }
    const onPiece = (n: number) => res.write(`${JSON.stringify({ piece: n })}\n`);
    const onDone = () => res.end(`${JSON.stringify({ done: true })}\n`);
    const onGone = () => res.destroy();
    task.on('piece', onPiece);
    task.once('done', onDone);
    task.once('removed', onGone);
    task.once('failed', onGone);
    req.socket.setTimeout(0);
    res.once('close', () => {
      task.off('piece', onPiece);
      task.off('done', onDone);
      task.off('removed', onGone);
      task.off('failed', onGone);
    });
  }
}

function json(res: ServerResponse, status: number, code: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ error: { code, message } }));
}
