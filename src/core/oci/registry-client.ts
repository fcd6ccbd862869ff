import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { errorMessage, WarrenError } from '../errors.js';
import { type RegistryAuth, readBounded } from './registry-auth.js';

export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Empty for HEAD. */
  body: Buffer;
}

/**
 * Small requests to a registry's API (manifests, HEADs, /v2/) with the
 * challenge → credentials → retry flow of {@link RegistryAuth}; the body is
 * read into memory up to `maxBytes`. Blobs do not come through here: they
 * are P2P tasks, fetched by the peer's source with the same authentication.
 */
export class RegistryClient {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly auth: RegistryAuth,
  ) {}

  async request(
    url: string,
    options: { method: 'GET' | 'HEAD'; accept?: string; maxBytes: number; signal?: AbortSignal },
  ): Promise<RegistryResponse> {
    const target = new URL(url);
    let authorization = this.auth.header(target);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (options.accept) headers.accept = options.accept;
      if (authorization) headers.authorization = authorization;
      let res: Dispatcher.ResponseData;
      try {
        res = await this.dispatcher.request({
          origin: target.origin,
          path: target.pathname + target.search,
          method: options.method,
          headers,
          signal: options.signal,
        });
      } catch (err) {
        throw new WarrenError(
          'REGISTRY_UNREACHABLE',
          `registry ${target.origin} unreachable: ${errorMessage(err)}`,
          502,
        );
      }
      if (res.statusCode === 401 && attempt === 0) {
        await res.body.dump();
        authorization = await this.auth.challenge(target, res.headers['www-authenticate'], authorization);
        if (authorization) continue;
        return { status: 401, headers: res.headers, body: Buffer.alloc(0) };
      }
      if (options.method === 'HEAD') {
        await res.body.dump();
        return { status: res.statusCode, headers: res.headers, body: Buffer.alloc(0) };
      }
      const body = await readBounded(res.body, options.maxBytes, `registry ${target.origin}`);
      return { status: res.statusCode, headers: res.headers, body };
    }
  }
}
