import { BlockList, isIP } from 'node:net';
import { WarrenError } from '../../core/errors.js';

/** One configured rule: URLs matching `regex` go through P2P (or, with useP2P false, never do). */
export interface ProxyRuleConfig {
  regex: string;
  useP2P: boolean;
}

export interface ProxyRule {
  regex: RegExp;
  useP2P: boolean;
}

/** Compiles the rules once, at start; a bad regex is a configuration error that names it. */
export function compileRules(rules: ProxyRuleConfig[]): ProxyRule[] {
  return rules.map((rule, i) => {
    try {
      return { regex: new RegExp(rule.regex), useP2P: rule.useP2P };
    } catch (err) {
      throw new WarrenError(
        'CONFIG_INVALID',
        `proxy.rules[${i}].regex '${rule.regex}' is not a valid regular expression: ${(err as Error).message}`,
        400,
      );
    }
  });
}

/** Whether a URL goes through P2P: the first matching rule decides; no match, no P2P. */
export function matchesP2P(rules: ProxyRule[], url: string): boolean {
  for (const rule of rules) if (rule.regex.test(url)) return rule.useP2P;
  return false;
}

/** Headers with which a client steers one request; never sent upstream. */
export const CONTROL_HEADERS = {
  tag: 'x-warren-tag',
  application: 'x-warren-application',
  digest: 'x-warren-digest',
  filter: 'x-warren-filter',
  useP2P: 'x-warren-use-p2p',
} as const;

const CONTROL = new Set<string>(Object.values(CONTROL_HEADERS));

export interface ControlValues {
  tag?: string;
  application?: string;
  digest?: string;
  filterQuery?: string[];
  /** false: the client asked for pass-through. */
  useP2P: boolean;
}

type HeaderValue = string | string[] | undefined;

function single(headers: Record<string, HeaderValue>, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1) throw new WarrenError('BAD_CONTROL_HEADER', `${name} given more than once`, 400);
    return value[0];
  }
  return value;
}

/**
 * Reads the X-Warren-* headers of a request (node's lower-cased header map).
 * `X-Warren-Use-P2P: false` forces pass-through; a client cannot force P2P
 * for a URL no rule matches: the operator's rules decide what the peer stores.
 */
export function controlValues(headers: Record<string, HeaderValue>): ControlValues {
  const useP2P = single(headers, CONTROL_HEADERS.useP2P)?.trim().toLowerCase();
  if (useP2P !== undefined && useP2P !== 'true' && useP2P !== 'false') {
    throw new WarrenError(
      'BAD_CONTROL_HEADER',
      `x-warren-use-p2p must be true or false, not '${useP2P}'`,
      400,
    );
  }
  const digest = single(headers, CONTROL_HEADERS.digest)?.trim();
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new WarrenError('BAD_CONTROL_HEADER', 'x-warren-digest must be sha256:<64 lower-case hex>', 400);
  }
  const filter = single(headers, CONTROL_HEADERS.filter);
  return {
    tag: single(headers, CONTROL_HEADERS.tag),
    application: single(headers, CONTROL_HEADERS.application),
    digest,
    filterQuery: filter
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    useP2P: useP2P !== 'false',
  };
}

/** RFC 9110 §7.6.1: meant for one connection only, never forwarded (plus the proxy's own). */
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** Header names (lower case) listed in Connection: hop-by-hop for this message too. */
function connectionTokens(rawHeaders: string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name !== 'connection' && name !== 'proxy-connection') continue;
    for (const token of rawHeaders[i + 1]!.split(',')) tokens.add(token.trim().toLowerCase());
  }
  return tokens;
}

/**
 * The end-to-end headers of a message, as [name, value] pairs in their
 * original case and order: hop-by-hop ones, those Connection names, and
 * (when `control`) the X-Warren-* control headers removed.
 */
export function endToEndHeaders(rawHeaders: string[], options: { control: boolean }): [string, string][] {
  const listed = connectionTokens(rawHeaders);
  const kept: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    if (options.control && CONTROL.has(lower)) continue;
    kept.push([name, rawHeaders[i + 1]!]);
  }
  return kept;
}

/**
 * Headers for the origin of a P2P download: end-to-end, no control headers,
 * no Host (the URL names it), no Range, conditionals or Accept-Encoding (the
 * peer fetches the whole content, as is, once for every client), one value
 * per name.
 */
export function originHeaders(rawHeaders: string[]): Record<string, string> {
  const skip = new Set([
    'host',
    'range',
    'if-range',
    'if-match',
    'if-none-match',
    'if-modified-since',
    'if-unmodified-since',
    'content-length',
    'expect',
    // The stored content is the identity encoding, whoever asks for it next.
    'accept-encoding',
  ]);
  const out: Record<string, string> = {};
  for (const [name, value] of endToEndHeaders(rawHeaders, { control: true })) {
    if (skip.has(name.toLowerCase())) continue;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/** Client networks allowed to use the proxy; an address not in them is refused. */
export class AllowList {
  private readonly list = new BlockList();

  constructor(cidrs: string[]) {
    for (const cidr of cidrs) {
      const [address, bits, extra] = cidr.split('/');
      const family = isIP(address ?? '');
      const prefix = Number(bits);
      const max = family === 6 ? 128 : 32;
      if (!family || extra !== undefined || !/^\d{1,3}$/.test(bits ?? '') || prefix > max) {
        throw new WarrenError('CONFIG_INVALID', `proxy.allow: '${cidr}' is not a CIDR like 10.0.0.0/8`, 400);
      }
      this.list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
  }

  allows(address: string | undefined): boolean {
    if (!address) return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    return this.list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  }
}

/** 'host:port' of a CONNECT request; the port must be given. */
export function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(authority);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) return undefined;
  return { host: (match[1] ?? match[2]!).toLowerCase(), port };
}

/**
 * A single `bytes=a-b` or `bytes=a-` range to serve from a task; anything
 * else (several ranges, a suffix, other units, an If-Range we cannot check)
 * is ignored and the whole content sent, as RFC 9110 §14.2 allows.
 */
export function byteRange(headers: Record<string, HeaderValue>): { start: number; end?: number } | undefined {
  const range = headers.range;
  if (typeof range !== 'string' || headers['if-range'] !== undefined) return undefined;
  const match = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(range.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = match[2] === '' ? undefined : Number(match[2]);
  if (end !== undefined && end < start) return undefined;
  return end === undefined ? { start } : { start, end };
}
