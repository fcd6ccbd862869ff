import type { Dispatcher } from 'undici';
import { errorMessage, WarrenError } from '../errors.js';
import { parseWwwAuthenticate, pullScope, TokenCache } from './auth-challenge.js';

/** A registry account (from configuration: the password is read from a file, never a flag). */
export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryAuthInit {
  /** For token requests (the realm may be another host than the registry). */
  dispatcher: Dispatcher;
  /** The account for a registry API host (`host:port` of its URL), if one is configured. */
  credentials(host: string): RegistryCredentials | undefined;
  now?: () => number;
}

/** Token service answers are small JSON documents. */
const MAX_TOKEN_RESPONSE = 64 * 1024;

/**
 * Authentication to OCI registries, the way Docker does it: a 401 names a
 * challenge; `Basic` is answered with the configured account; `Bearer`
 * sends us to the realm (token service) with service and scope, with the
 * account in Basic auth when there is one (anonymous otherwise), and the
 * token is cached per registry and scope until shortly before it expires.
 * Secrets (passwords, tokens) never appear in errors or logs.
 */
export class RegistryAuth {
  private readonly tokens: TokenCache;
  /** Registries that answered with a Basic challenge: the account is sent up front from then on. */
  private readonly basicHosts = new Set<string>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(private readonly init: RegistryAuthInit) {
    this.tokens = new TokenCache(init.now);
  }

  /** The Authorization header to send up front for `url`, from what is already known. */
  header(url: URL): string | undefined {
    const account = this.init.credentials(url.host);
    if (account && this.basicHosts.has(url.host)) return basic(account);
    const scope = pullScope(url.pathname);
    const token = scope ? this.tokens.get(url.host, scope) : undefined;
    return token ? `Bearer ${token}` : undefined;
  }

  /**
   * Answers a 401's WWW-Authenticate for `url`: the header to retry with, or
   * undefined when there is nothing to try (no challenge we understand).
   * `sent` is the Authorization the refused request carried: requests run
   * concurrently, so whether the account itself was refused is a fact about
   * that request, not about what another request learnt meanwhile.
   */
  async challenge(
    url: URL,
    wwwAuthenticate: string | string[] | undefined,
    sent?: string,
  ): Promise<string | undefined> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const account = this.init.credentials(url.host);
    if (bearer) {
      const scope = bearer.params.scope ?? pullScope(url.pathname) ?? '';
      const cacheScope = pullScope(url.pathname) ?? scope;
      this.tokens.clear(url.host, cacheScope); // the one we sent (if any) was refused
      const key = `${url.host} ${cacheScope}`;
      let token = this.pending.get(key);
      if (!token) {
        token = this.fetchToken(url, bearer.params, scope, account).finally(() => this.pending.delete(key));
        this.pending.set(key, token);
      }
      return `Bearer ${await token}`;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!account) {
        throw new WarrenError(
          'REGISTRY_UNAUTHORIZED',
          `registry ${url.host} asks for a password and none is configured for it (registries[].passwordFile)`,
          401,
        );
      }
      if (sent?.startsWith('Basic ')) {
        throw new WarrenError(
          'REGISTRY_UNAUTHORIZED',
          `registry ${url.host} refused the configured account`,
          401,
        );
      }
      this.basicHosts.add(url.host);
      return basic(account);
    }
    return undefined;
  }

  private async fetchToken(
    url: URL,
    params: Record<string, string>,
    scope: string,
    account: RegistryCredentials | undefined,
  ): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm ?? '');
    } catch {
      throw new WarrenError('REGISTRY_AUTH', `registry ${url.host} named no usable token realm`, 502);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new WarrenError(
        'REGISTRY_AUTH',
        `registry ${url.host} named a token realm that is not http(s)`,
        502,
      );
    }
    if (account && realm.protocol === 'http:' && url.protocol === 'https:') {
      throw new WarrenError(
        'REGISTRY_AUTH',
        `registry ${url.host} (https) sends its password to a plain-http token realm ${realm.origin}: refused`,
        502,
      );
    }
    if (params.service) realm.searchParams.set('service', params.service);
    if (scope) realm.searchParams.set('scope', scope);
    const where = `token service ${realm.origin}${realm.pathname}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.init.dispatcher.request({
        origin: realm.origin,
        path: realm.pathname + realm.search,
        method: 'GET',
        headers: account ? { authorization: basic(account) } : {},
      });
    } catch (err) {
      throw new WarrenError('REGISTRY_AUTH', `${where} unreachable: ${errorMessage(err)}`, 502);
    }
    const body = await readBounded(res.body, MAX_TOKEN_RESPONSE, where);
    if (res.statusCode !== 200) {
      const who = account ? `account '${account.username}'` : 'anonymous access';
      throw new WarrenError(
        'REGISTRY_UNAUTHORIZED',
        `${where} answered HTTP ${res.statusCode} for ${scope || 'the registry'} (${who})`,
        401,
      );
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw new WarrenError('REGISTRY_AUTH', `${where} answered something other than JSON`, 502);
    }
    const token = typeof doc.token === 'string' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token.length === 0 || /[\r\n]/.test(token)) {
      throw new WarrenError('REGISTRY_AUTH', `${where} answered without a token`, 502);
    }
    const cacheScope = pullScope(url.pathname) ?? scope;
    this.tokens.set(
      url.host,
      cacheScope,
      token,
      typeof doc.expires_in === 'number' ? doc.expires_in : undefined,
    );
    return token;
  }
}

function basic(account: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${account.username}:${account.password}`).toString('base64')}`;
}

/** Reads a response body up to `max` bytes; more is an error (and the rest is not read). */
export async function readBounded(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  max: number,
  what: string,
) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw new WarrenError('RESPONSE_TOO_LARGE', `${what} sent more than ${max} bytes`, 502);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
