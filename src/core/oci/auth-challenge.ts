/** One challenge of a WWW-Authenticate header: scheme (lowercase) and its parameters. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses a WWW-Authenticate header (RFC 9110 §11.6.1) into its challenges,
 * e.g. `Bearer realm="https://auth.example/token",service="registry",
 * scope="repository:a/b:pull"`. Quoted values may hold commas and escaped
 * quotes; parameter names are lowercased. Anything malformed ends parsing
 * with what was read so far (a registry's header is not trusted to be tidy).
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseWwwAuthenticate(h));
  const challenges: AuthChallenge[] = [];
  let rest = header.slice(0, 8192);
  let current: AuthChallenge | undefined;
  for (;;) {
    rest = rest.replace(/^[\s,]+/, '');
    const name = TOKEN.exec(rest)?.[0];
    if (!name) break;
    const after = rest.slice(name.length).replace(/^\s+/, '');
    if (after.startsWith('=') && current) {
      rest = after.slice(1).replace(/^\s+/, '');
      let value: string;
      if (rest.startsWith('"')) {
        const match = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
        if (!match) break;
        value = match[1]!.replace(/\\(.)/g, '$1');
        rest = rest.slice(match[0].length);
      } else {
        value = TOKEN.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      current.params[name.toLowerCase()] = value;
    } else {
      current = { scheme: name.toLowerCase(), params: {} };
      challenges.push(current);
      rest = after;
    }
  }
  return challenges;
}

/**
 * The pull scope a registry API path needs: `/v2/<name>/(manifests|blobs|tags)/…`
 * → `repository:<name>:pull`; undefined for other paths (e.g. `/v2/`).
 */
export function pullScope(pathname: string): string | undefined {
  const match = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\/[^/]+$/.exec(pathname);
  return match ? `repository:${match[1]}:pull` : undefined;
}

/** Seconds a token lives when the token service does not say (the distribution spec's default). */
export const DEFAULT_TOKEN_SECONDS = 60;
/** A token is dropped this long before its expiry, so that it does not expire in flight. */
const EXPIRY_MARGIN_MS = 10_000;

/**
 * Bearer tokens per registry and scope until they expire, bounded (the
 * oldest entry goes first). Tokens live in memory only.
 */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; until: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly max = 1024,
  ) {}

  get(registry: string, scope: string): string | undefined {
    const key = `${registry} ${scope}`;
    const entry = this.tokens.get(key);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return entry.token;
  }

  /** `expiresIn` in seconds as the token service sent it (default 60 s). */
  set(registry: string, scope: string, token: string, expiresIn?: number): void {
    const seconds =
      expiresIn && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
    const lifetime = Math.max(seconds * 1000 - EXPIRY_MARGIN_MS, seconds * 500);
    const key = `${registry} ${scope}`;
    this.tokens.delete(key);
    this.tokens.set(key, { token, until: this.now() + lifetime });
    while (this.tokens.size > this.max) this.tokens.delete(this.tokens.keys().next().value!);
  }

  clear(registry: string, scope: string): void {
    this.tokens.delete(`${registry} ${scope}`);
  }
}
