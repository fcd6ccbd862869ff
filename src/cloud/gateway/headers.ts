import type { AppVisitor } from './types.js';

/*
 * Header rewriting between a client and an app (pure, no I/O). Both
 * directions work on Node's `rawHeaders` shape (a flat [name, value, …]
 * array, names as sent) and produce the same shape, which `http.request`
 * and `res.writeHead` take as they are: no object is built per request.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Cookies of the platform itself: `__Host-warren-session`, `__Host-warren-app`, any `__Host-warren-*`. */
const PLATFORM_COOKIE_PREFIX = '__host-warren';

/** What the gateway knows about the request it forwards. */
export interface ForwardContext {
  /** The client's address (the TCP peer; `::ffff:` prefixes are removed). */
  clientIp: string;
  /** The Host header as the client sent it, already checked against the domain. */
  host: string;
  /** The signed-in user the app session belongs to. */
  visitor: AppVisitor;
  /** True for a WebSocket (or other) upgrade: `Upgrade` and `Connection: Upgrade` are kept. */
  upgrade?: boolean;
}

/** Lower-cased header names listed in every `Connection` header (they are hop-by-hop too). */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (!name) continue;
      tokens ??= new Set();
      tokens.add(name);
    }
  }
  return tokens;
}

/** True for a cookie name the platform owns (case-insensitive, as browsers match `__Host-`). */
export function isPlatformCookie(name: string): boolean {
  return (
    name.length >= PLATFORM_COOKIE_PREFIX.length && name.slice(0, 13).toLowerCase() === PLATFORM_COOKIE_PREFIX
  );
}

/**
 * A Cookie header without the platform's cookies; undefined when nothing of
 * the app's own is left.
 */
export function stripPlatformCookies(cookieHeader: string): string | undefined {
  if (!cookieHeader.toLowerCase().includes(PLATFORM_COOKIE_PREFIX)) return cookieHeader;
  const kept: string[] = [];
  for (const pair of cookieHeader.split(';')) {
    const trimmed = pair.trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf('=');
    const name = (eq === -1 ? trimmed : trimmed.slice(0, eq)).trim();
    if (!isPlatformCookie(name)) kept.push(trimmed);
  }
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/** The client address without the IPv4-mapped IPv6 prefix. */
export function clientAddress(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  return remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
}

/** A value safe in a header line: visible ASCII and spaces only; anything else percent-encoded. */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/**
 * The headers an app receives. Removed: hop-by-hop headers (Connection and
 * what it lists, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade
 * unless upgrading), Authorization, the platform's cookies, and every
 * client-sent X-Forwarded-*, Forwarded, X-Real-IP and X-Warren-*. Set by the
 * gateway alone: Host (the checked one), X-Forwarded-For/-Proto/-Host and
 * X-Warren-User. The body's framing on the upstream hop is the transport's
 * (a body without Content-Length goes chunked); `Expect` was already
 * answered by the gateway's server and is not passed on.
 */
export function upstreamRequestHeaders(raw: readonly string[], context: ForwardContext): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = ['Host', context.host];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
      case 'authorization':
      case 'forwarded':
      case 'x-real-ip':
      case 'keep-alive':
      case 'te':
      case 'trailer':
      case 'connection':
      case 'upgrade':
        continue;
      case 'transfer-encoding':
      case 'expect':
        continue;
      case 'cookie': {
        const kept = stripPlatformCookies(raw[i + 1]!);
        if (kept !== undefined) out.push(name, kept);
        continue;
      }
    }
    if (lower.startsWith('proxy-') || lower.startsWith('x-forwarded-') || lower.startsWith('x-warren-'))
      continue;
    // Content-Length frames the body: a client must not make it vanish by listing it in Connection.
    if (listed?.has(lower) && lower !== 'content-length') continue;
    out.push(name, raw[i + 1]!);
  }
  if (context.upgrade) {
    const upgrade = headerValue(raw, 'upgrade');
    if (upgrade !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgrade);
  }
  out.push(
    'X-Forwarded-For',
    context.clientIp,
    'X-Forwarded-Proto',
    'https',
    'X-Forwarded-Host',
    context.host,
    'X-Warren-User',
    headerSafe(context.visitor.userName),
  );
  return out;
}

/** Why a Set-Cookie from an app is refused, or undefined when it may pass. */
export function refusedSetCookie(setCookie: string): 'domain' | 'platform-name' | undefined {
  const semi = setCookie.indexOf(';');
  const pair = semi === -1 ? setCookie : setCookie.slice(0, semi);
  const eq = pair.indexOf('=');
  const name = (eq === -1 ? '' : pair.slice(0, eq)).trim();
  if (isPlatformCookie(name)) return 'platform-name';
  if (semi === -1) return undefined;
  for (const attribute of setCookie.slice(semi + 1).split(';')) {
    const aeq = attribute.indexOf('=');
    const attributeName = (aeq === -1 ? attribute : attribute.slice(0, aeq)).trim().toLowerCase();
    if (attributeName === 'domain') return 'domain';
  }
  return undefined;
}

/**
 * The headers a client receives from an app: hop-by-hop headers removed
 * (kept for a 101 upgrade: `Connection` and `Upgrade`), and every Set-Cookie
 * dropped that carries a Domain attribute (an app must not set cookies on
 * the parent domain or its siblings) or names a platform cookie. An answer
 * without Cache-Control gets `private, no-cache`: behind a login, a browser
 * must ask again (and so pass the session check) before reusing a page —
 * otherwise its heuristic cache shows an app's pages after sign-out.
 */
export function downstreamResponseHeaders(
  raw: readonly string[],
  options: { upgrade?: boolean } = {},
): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  let cacheControl = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'cache-control') cacheControl = true;
    if (HOP_BY_HOP.has(lower)) {
      if (options.upgrade && (lower === 'connection' || lower === 'upgrade')) out.push(name, raw[i + 1]!);
      continue;
    }
    if (lower.startsWith('proxy-')) continue;
    if (lower === 'set-cookie' && refusedSetCookie(raw[i + 1]!) !== undefined) continue;
    if (listed?.has(lower) && !(options.upgrade && lower === 'upgrade')) continue;
    out.push(name, raw[i + 1]!);
  }
  if (!cacheControl && !options.upgrade) out.push('cache-control', 'private, no-cache');
  return out;
}

/** What the gateway reads of a request's headers, in one pass over `rawHeaders`. */
export interface RequestFacts {
  host: string | undefined;
  /** Every Cookie header, joined with '; '. */
  cookie: string | undefined;
  accept: string | undefined;
  contentLength: number | undefined;
  chunked: boolean;
  origin: string | undefined;
  fetchSite: string | undefined;
  fetchMode: string | undefined;
}

export function requestFacts(raw: readonly string[]): RequestFacts {
  const facts: RequestFacts = {
    host: undefined,
    cookie: undefined,
    accept: undefined,
    contentLength: undefined,
    chunked: false,
    origin: undefined,
    fetchSite: undefined,
    fetchMode: undefined,
  };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Only names of these lengths can matter: skip the rest without lower-casing.
    const length = name.length;
    if (length !== 4 && length !== 6 && length !== 14 && length !== 17) continue;
    const value = raw[i + 1]!;
    switch (name.toLowerCase()) {
      case 'host':
        facts.host ??= value;
        break;
      case 'cookie':
        facts.cookie = facts.cookie === undefined ? value : `${facts.cookie}; ${value}`;
        break;
      case 'accept':
        facts.accept ??= value;
        break;
      case 'content-length':
        facts.contentLength = Number(value);
        break;
      case 'transfer-encoding':
        facts.chunked = true;
        break;
      case 'origin':
        facts.origin ??= value;
        break;
      case 'sec-fetch-site':
        facts.fetchSite ??= value;
        break;
      case 'sec-fetch-mode':
        facts.fetchMode ??= value;
        break;
    }
  }
  return facts;
}

/** The first value of header `lowerName` in a raw header array. */
export function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}
