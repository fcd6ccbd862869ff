import type { Readable } from 'node:stream';
import { Agent, type Dispatcher, interceptors } from 'undici';
import { WarrenError } from '../../core/errors.js';
import { TokenBucket, throttle } from '../../core/token-bucket.js';

/** One response from the origin, positioned at `start`. */
export interface SourceResponse {
  /** Total content length, from Content-Length (200) or Content-Range (206). */
  contentLength: number;
  /** First byte offset the body starts at (0 unless a range was honoured). */
  start: number;
  body: AsyncIterable<Buffer>;
  close(): void;
}

export interface HttpSourceInit {
  /** Back-to-source bandwidth in bytes per second shared by all downloads; 0 = unlimited. */
  rateLimit: number;
  connectTimeout: number;
  /** Longest silence between bytes from the origin. */
  bodyTimeout: number;
  /** Extra CA certificates (PEM) to trust for HTTPS origins, besides the system's. */
  ca?: string;
  /**
   * How to authenticate to an origin that needs it (an OCI registry: a 401
   * with a challenge), chosen per URL; undefined for origins without one.
   * A caller's own Authorization header always wins over it.
   */
  authFor?: (url: URL) => SourceAuth | undefined;
}

/** An origin's authentication: what to send up front, and how to answer a 401 challenge. */
export interface SourceAuth {
  header(url: URL): string | undefined;
  /** The Authorization header to retry with (`sent`: what the refused request carried), or undefined to give up. */
  challenge(
    url: URL,
    wwwAuthenticate: string | string[] | undefined,
    sent?: string,
  ): Promise<string | undefined>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'range']);

/**
 * Fetches content from HTTP(S) origins for back-to-source downloads: request
 * headers passed through (minus hop-by-hop ones), redirects followed, range
 * requests where the origin honours them, and one token bucket limiting the
 * whole peer's back-to-source bandwidth (threat 1: protect the origin).
 */
export class HttpSource {
  private readonly dispatcher: Dispatcher;
  private readonly bucket: TokenBucket;
  private readonly authFor: HttpSourceInit['authFor'];

  constructor(init: HttpSourceInit) {
    this.authFor = init.authFor;
    this.bucket = new TokenBucket(init.rateLimit, Math.max(init.rateLimit / 10, 1024 * 1024));
    this.dispatcher = new Agent({
      connect: { timeout: init.connectTimeout, ...(init.ca ? { ca: init.ca } : {}) },
      bodyTimeout: init.bodyTimeout,
      headersTimeout: init.connectTimeout + init.bodyTimeout,
      keepAliveTimeout: 10_000,
    }).compose(interceptors.redirect({ maxRedirections: 5 }));
  }

  /** GETs `url` from byte `start` on (whole content when start is 0). */
  async open(
    url: string,
    headers: Record<string, string>,
    start = 0,
    signal?: AbortSignal,
  ): Promise<SourceResponse> {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new WarrenError('SOURCE_SCHEME', `cannot fetch '${parsed.protocol}' URLs from the origin`, 400);
    }
    const sent: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!HOP_BY_HOP.has(name.toLowerCase())) sent[name] = value;
    }
    if (start > 0) sent.range = `bytes=${start}-`;
    const hasOwn = Object.keys(sent).some((name) => name.toLowerCase() === 'authorization');
    const auth = hasOwn ? undefined : this.authFor?.(parsed);
    const authorization = auth?.header(parsed);
    if (authorization) sent.authorization = authorization;
    let res = await this.request(parsed, sent, signal);
    if (res.statusCode === 401 && auth) {
      // The registry's challenge: get a token (or send the account) and try once more.
      const challenge = res.headers['www-authenticate'];
      await res.body.dump();
      const retry = await auth.challenge(parsed, challenge, authorization);
      if (retry) res = await this.request(parsed, { ...sent, authorization: retry }, signal);
    }
    const { statusCode } = res;
    const length = Number(res.headers['content-length']);
    if (statusCode === 206) {
      const range = /bytes (\d+)-(\d+)\/(\d+)/.exec(String(res.headers['content-range'] ?? ''));
      if (!range || Number(range[1]) !== start) {
        res.body.destroy();
        throw new WarrenError(
          'SOURCE_BAD_RANGE',
          `origin answered a range other than the one asked for`,
          502,
        );
      }
      return this.wrap(res.body, Number(range[3]), start, signal);
    }
    if (statusCode === 200) {
      if (!Number.isFinite(length)) {
        res.body.destroy();
        throw new WarrenError(
          'SOURCE_NO_LENGTH',
          `origin sent no Content-Length for ${parsed.origin}${parsed.pathname}`,
          502,
        );
      }
      return this.wrap(res.body, length, 0, signal);
    }
    res.body.destroy();
    throw new WarrenError(
      'SOURCE_STATUS',
      `origin answered HTTP ${statusCode} for ${parsed.origin}${parsed.pathname}`,
      502,
      { cause: { originStatus: statusCode } },
    );
  }

  /**
   * One GET. Redirects are followed by the dispatcher, which drops the
   * Authorization header when a redirect leaves the origin (a registry
   * sending us to its storage must not hand that storage our token).
   */
  private async request(
    parsed: URL,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await this.dispatcher.request({
        origin: parsed.origin,
        path: parsed.pathname + parsed.search,
        method: 'GET',
        headers,
        signal,
        // Keep reading from the origin while the consumer hashes and writes a piece.
        highWaterMark: 4 * 1024 * 1024,
      });
    } catch (err) {
      throw new WarrenError(
        'SOURCE_UNREACHABLE',
        `origin ${parsed.origin} unreachable: ${String(err)}`,
        502,
        {
          cause: err,
        },
      );
    }
  }

  private wrap(body: Readable, contentLength: number, start: number, signal?: AbortSignal): SourceResponse {
    const bucket = this.bucket;
    async function* limited(): AsyncIterable<Buffer> {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        const wait = throttle(bucket, chunk.length, signal);
        if (wait) await wait;
        yield chunk;
      }
    }
    return { contentLength, start, body: limited(), close: () => body.destroy() };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
