import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { sha256Hex } from '../../core/digest.js';
import { errorMessage, isWarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from '../../core/oci/media-types.js';
import { isDigest } from '../../core/oci/reference.js';
import type { RegistryClient } from '../../core/oci/registry-client.js';
import type { Upstreams } from '../../core/oci/upstreams.js';
import type { DownloadBody } from '../api/download-body.js';
import { streamContent, waitFor } from '../api/task-content.js';
import type { StoredTask } from '../storage/stored-task.js';
import { ManifestCache } from './manifest-cache.js';
import { type ContentRoute, OciError, parseRange, routeRequest } from './routes.js';

/** What the mirror needs from the peer daemon. */
export interface MirrorComponents {
  log: Logger;
  registry: Registry;
  upstreams: Upstreams;
  client: RegistryClient;
  startDownload(body: DownloadBody): Promise<{ taskId: string }>;
  storedTask(taskId: string): StoredTask | undefined;
}

export interface MirrorInit {
  host: string;
  port: number;
  defaultRegistry: string;
  maxConcurrent: number;
  /** Milliseconds for an upstream manifest or HEAD request. */
  requestTimeout: number;
  manifestCache: number;
}

type Blob = ContentRoute;
type Manifest = ContentRoute;

/**
 * The OCI distribution pull API for Docker and containerd. Manifests are
 * fetched fresh from the upstream (by tag) or served from a small cache of
 * verified ones (by digest); blobs are content-addressed P2P tasks, streamed
 * as they arrive, each piece checked, and the last byte held back until the
 * whole blob matched its digest. Read-only: no push, no catalog.
 */
export class MirrorServer {
  private server: Server | undefined;
  private active = 0;
  private readonly manifests: ManifestCache;
  /** Blobs whose content did not match their digest lately: refused at once, not fetched again. */
  private readonly badBlobs = new Map<string, { message: string; until: number }>();
  private readonly requests: Counter;

  constructor(
    private readonly c: MirrorComponents,
    private readonly init: MirrorInit,
  ) {
    this.manifests = new ManifestCache(init.manifestCache);
    this.requests = new Counter({
      name: 'warren_mirror_requests_total',
      help: 'Registry mirror requests by kind and HTTP status',
      labelNames: ['kind', 'status'],
      registers: [c.registry],
    });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 0; // a blob streams as long as its download takes
    server.listen(this.init.port, this.init.host);
    await once(server, 'listening');
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let kind = 'other';
    res.once('close', () => this.requests.inc({ kind, status: String(res.statusCode) }));
    if (this.active >= this.init.maxConcurrent) {
      res.setHeader('retry-after', '1');
      sendError(
        res,
        new OciError(429, 'TOOMANYREQUESTS', `the mirror serves ${this.init.maxConcurrent} requests at once`),
      );
      return;
    }
    this.active++;
    res.once('close', () => this.active--);
    const url = new URL(req.url ?? '/', 'http://mirror');
    const run = async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new OciError(405, 'UNSUPPORTED', 'this mirror is read-only: only GET and HEAD');
      }
      const route = routeRequest(url.pathname, url.searchParams, this.c.upstreams, this.init.defaultRegistry);
      kind = route.kind;
      if (route.kind === 'base') return sendJson(res, 200, {}, req.method);
      if (route.kind === 'manifests') return this.manifest(route, req, res);
      return this.blob(route, req, res);
    };
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    run().catch((err) => {
      const e = toOciError(err);
      if (e.status >= 500)
        this.c.log.warn({ path: url.pathname, err: errorMessage(err) }, 'mirror request failed');
      sendError(res, e, req.method);
    });
  }

  private async manifest(route: Manifest, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const byDigest = isDigest(route.reference);
    const cached = byDigest ? this.manifests.get(route.reference) : undefined;
    if (cached) return sendManifest(res, req.method, route.reference, cached.mediaType, cached.body);
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    const upstreamUrl = `${route.upstream.url}/v2/${route.repository}/manifests/${route.reference}`;
    const answer = await this.c.client.request(upstreamUrl, {
      method,
      accept: headerValue(req.headers.accept) || MANIFEST_ACCEPT,
      maxBytes: MAX_MANIFEST_BYTES,
      signal: AbortSignal.timeout(this.init.requestTimeout),
    });
    checkUpstreamStatus(answer.status, route, 'MANIFEST_UNKNOWN');
    const mediaType = headerValue(answer.headers['content-type']) || 'application/json';
    const claimed = headerValue(answer.headers['docker-content-digest']);
    if (method === 'HEAD') {
      // Nothing to verify without the body; a GET (by digest) is always checked.
      res.writeHead(200, {
        'content-type': mediaType,
        'content-length': headerValue(answer.headers['content-length']) || '0',
        ...(claimed ? { 'docker-content-digest': claimed } : {}),
      });
      res.end();
      return;
    }
    const digest = `sha256:${sha256Hex(answer.body)}`;
    if (byDigest && digest !== route.reference) {
      throw new OciError(
        502,
        'DIGEST_INVALID',
        `upstream ${route.upstream.host} sent a manifest with ${digest} for ${route.reference}`,
      );
    }
    if (claimed && claimed !== digest) {
      throw new OciError(
        502,
        'DIGEST_INVALID',
        `upstream ${route.upstream.host} says ${claimed} but sent ${digest}`,
      );
    }
    this.manifests.set(digest, mediaType, answer.body);
    sendManifest(res, method, digest, mediaType, answer.body);
  }

  private async blob(route: Blob, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const digest = route.reference;
    const url = `${route.upstream.url}/v2/${route.repository}/blobs/${digest}`;
    const headers = {
      'content-type': 'application/octet-stream',
      'docker-content-digest': digest,
      'accept-ranges': 'bytes',
    };
    if (req.method === 'HEAD') {
      const held = this.c.storedTask(digest.slice('sha256:'.length));
      if (held?.verified) {
        res.writeHead(200, { ...headers, 'content-length': held.meta.contentLength! }).end();
        return;
      }
      const answer = await this.c.client.request(url, {
        method: 'HEAD',
        maxBytes: 0,
        signal: AbortSignal.timeout(this.init.requestTimeout),
      });
      checkUpstreamStatus(answer.status, route, 'BLOB_UNKNOWN');
      res.writeHead(200, {
        ...headers,
        'content-length': headerValue(answer.headers['content-length']) || '0',
      });
      res.end();
      return;
    }
    const bad = this.badBlobs.get(digest);
    if (bad && bad.until > Date.now()) throw new OciError(502, 'DIGEST_INVALID', bad.message);
    // Content-addressed: the task is the digest, whichever registry, repository or ns= named it.
    const { taskId } = await this.c.startDownload({ url, digest });
    const task = this.c.storedTask(taskId);
    if (!task) throw new OciError(404, 'BLOB_UNKNOWN', `blob ${digest} went away`);
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const release = task.acquire();
    try {
      // A one-piece blob (configs, small layers) is answered once verified, so that a
      // mismatch is a clear error rather than a cut body; bigger ones stream as pieces come.
      await waitFor(task, () => task.hasShape, gone.signal);
      if (task.pieces.size <= 1) await waitFor(task, () => task.verified, gone.signal);
    } catch (err) {
      this.remember(digest, err);
      throw err;
    } finally {
      release();
    }
    await streamContent(task, res, {
      headers,
      range: parseRange(headerValue(req.headers.range)),
      onCut: (err) => {
        this.remember(digest, err);
        this.c.log.warn(
          { digest, err: errorMessage(err) },
          'blob response cut: the client gets no unverified byte',
        );
      },
    });
  }

  /**
   * Keeps a digest mismatch (or a registry sending other bytes each time) for
   * 30 s, bounded: retries get the error, the registry is not asked again.
   */
  private remember(digest: string, err: unknown): void {
    if (!isWarrenError(err, 'DIGEST_MISMATCH') && !isWarrenError(err, 'SOURCE_CHANGED')) return;
    this.badBlobs.delete(digest);
    this.badBlobs.set(digest, { message: err.message, until: Date.now() + 30_000 });
    while (this.badBlobs.size > 1024) this.badBlobs.delete(this.badBlobs.keys().next().value!);
  }
}

function checkUpstreamStatus(status: number, route: Blob | Manifest, notFound: string): void {
  if (status === 200) return;
  const what = `${route.upstream.host}/${route.repository} ${route.kind === 'blobs' ? 'blob' : 'manifest'} ${route.reference}`;
  if (status === 404) throw new OciError(404, notFound, `${what} is not in the upstream registry`);
  if (status === 401 || status === 403) {
    throw new OciError(
      403,
      'DENIED',
      `upstream ${route.upstream.host} refused this mirror's account for ${what}`,
    );
  }
  throw new OciError(502, 'UNKNOWN', `upstream ${route.upstream.host} answered HTTP ${status} for ${what}`);
}

/** Errors of downloads and registry calls in the OCI format Docker and containerd print. */
function toOciError(err: unknown): OciError {
  if (err instanceof OciError) return err;
  if (!isWarrenError(err)) return new OciError(500, 'UNKNOWN', errorMessage(err));
  const originStatus = (err.cause as { originStatus?: number } | undefined)?.originStatus;
  switch (err.code) {
    case 'DIGEST_MISMATCH':
      return new OciError(502, 'DIGEST_INVALID', err.message);
    case 'SOURCE_CHANGED':
      return new OciError(
        502,
        'DIGEST_INVALID',
        `the registry sent other bytes for this blob than before: ${err.message}`,
      );
    case 'RANGE_NOT_SATISFIABLE':
      return new OciError(416, 'RANGE_INVALID', err.message);
    case 'TOO_MANY_DOWNLOADS':
    case 'TOO_MANY_TASKS':
      return new OciError(429, 'TOOMANYREQUESTS', err.message);
    case 'REGISTRY_UNAUTHORIZED':
      return new OciError(403, 'DENIED', err.message);
    case 'SOURCE_STATUS':
      if (originStatus === 404) return new OciError(404, 'BLOB_UNKNOWN', err.message);
      if (originStatus === 401 || originStatus === 403) return new OciError(403, 'DENIED', err.message);
      return new OciError(502, 'UNKNOWN', err.message);
    default:
      return new OciError(err.status >= 400 && err.status < 600 ? err.status : 502, 'UNKNOWN', err.message);
  }
}

function sendManifest(
  res: ServerResponse,
  method: string | undefined,
  digest: string,
  mediaType: string,
  body: Buffer,
) {
  res.writeHead(200, {
    'content-type': mediaType,
    'content-length': body.length,
    'docker-content-digest': digest,
  });
  res.end(method === 'HEAD' ? undefined : body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  method?: string,
  reason?: string,
): void {
  const text = JSON.stringify(body);
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
  if (reason) res.writeHead(status, reason, headers);
  else res.writeHead(status, headers);
  res.end(method === 'HEAD' ? undefined : text);
}

function sendError(res: ServerResponse, err: OciError, method?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // The message as the reason phrase too: Docker's blob client prints the status line, not the body.
  const reason = err.message.replace(/[^\x20-\x7e]/g, ' ').slice(0, 300);
  sendJson(res, err.status, err.toJSON(), method, reason);
}

function headerValue(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? '';
}
