import { BlockList, isIP } from 'node:net';

/**
 * A cluster's locality rules (Dragonfly's scheduler cluster "scopes"): which
 * hosts belong to it by address, host name, data centre or location.
 */
export interface ClusterScopes {
  /** CIDR blocks, e.g. '10.1.0.0/16', 'fd00::/8'. */
  cidrs: string[];
  /** Regular expressions matched against the whole host name. */
  hostnames: string[];
  /** IDC labels, compared case-insensitively. */
  idcs: string[];
  /** Location prefixes 'country|region|city', compared element by element. */
  locations: string[];
}

/** What a host tells about itself when it asks which cluster it belongs to. */
export interface HostLocality {
  ip: string;
  hostname: string;
  idc: string;
  location: string;
}

/** A cluster as matching sees it: rules compiled once per cache reload. */
export interface MatchableCluster {
  id: string;
  name: string;
  isDefault: boolean;
  scopes: ClusterScopes;
}

export const EMPTY_SCOPES: ClusterScopes = { cidrs: [], hostnames: [], idcs: [], locations: [] };

/**
 * The best cluster for a host, in Dragonfly's order of evidence: a CIDR match
 * beats a host-name match, which beats an IDC match, which beats a location
 * prefix; within a kind the more specific rule wins (longer CIDR prefix,
 * longer location prefix). A host that matches no rule goes to the default
 * cluster. Ties go to the smaller name so that every manager replica agrees.
 */
export function matchCluster<C extends MatchableCluster>(
  clusters: readonly C[],
  host: HostLocality,
): C | undefined {
  let best: C | undefined;
  let bestScore: number[] | undefined;
  for (const cluster of clusters) {
    const score = localityScore(cluster.scopes, host);
    if (score.every((s) => s === 0)) continue;
    if (
      !bestScore ||
      compareScores(score, bestScore) > 0 ||
      (compareScores(score, bestScore) === 0 && cluster.name < best!.name)
    ) {
      best = cluster;
      bestScore = score;
    }
  }
  return best ?? clusters.find((c) => c.isDefault);
}

/** [CIDR prefix length + 1, host name, IDC, location elements]: 0 where the rule does not match. */
export function localityScore(scopes: ClusterScopes, host: HostLocality): number[] {
  const rules = compile(scopes);
  return [
    cidrScore(rules.cidrs, host.ip),
    host.hostname !== '' && rules.hostnames.some((re) => re.test(host.hostname)) ? 1 : 0,
    host.idc !== '' && rules.idcs.has(host.idc.toLowerCase()) ? 1 : 0,
    locationScore(rules.locations, host.location),
  ];
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return 0;
}

interface CompiledScopes {
  cidrs: Array<{ prefix: number; family: 'ipv4' | 'ipv6'; list: BlockList }>;
  hostnames: RegExp[];
  idcs: Set<string>;
  locations: string[][];
}

/** Rules are compiled once per scopes object (the cache reload makes new ones). */
const compiledScopes = new WeakMap<ClusterScopes, CompiledScopes>();

function compile(scopes: ClusterScopes): CompiledScopes {
  let rules = compiledScopes.get(scopes);
  if (rules) return rules;
  rules = { cidrs: [], hostnames: [], idcs: new Set(), locations: [] };
  for (const cidr of scopes.cidrs) {
    const parsed = parseCidr(cidr);
    if (!parsed) continue; // validated on write; a bad rule never matches
    const family = parsed.family === 4 ? 'ipv4' : 'ipv6';
    const list = new BlockList();
    list.addSubnet(parsed.address, parsed.prefix, family);
    rules.cidrs.push({ prefix: parsed.prefix, family, list });
  }
  for (const pattern of scopes.hostnames) {
    if (hostnamePatternProblem(pattern) === undefined) rules.hostnames.push(new RegExp(`^(?:${pattern})$`));
  }
  for (const idc of scopes.idcs) rules.idcs.add(idc.toLowerCase());
  for (const location of scopes.locations) rules.locations.push(location.toLowerCase().split('|'));
  compiledScopes.set(scopes, rules);
  return rules;
}

function cidrScore(cidrs: CompiledScopes['cidrs'], ip: string): number {
  const family = isIP(ip) === 4 ? 'ipv4' : isIP(ip) === 6 ? 'ipv6' : undefined;
  if (!family) return 0;
  let best = 0;
  for (const rule of cidrs) {
    if (rule.family === family && rule.list.check(ip, family)) best = Math.max(best, rule.prefix + 1);
  }
  return best;
}

/** Elements of the longest rule that is an element-wise prefix of the location. */
function locationScore(rules: string[][], location: string): number {
  if (location === '') return 0;
  const have = location.toLowerCase().split('|');
  let best = 0;
  for (const want of rules) {
    if (want.length > have.length) continue;
    if (want.every((element, i) => element === have[i])) best = Math.max(best, want.length);
  }
  return best;
}

/** 'a.b.c.d/n' or 'v6::/n' split and checked; undefined when it is not a CIDR block. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!match) return undefined;
  const family = isIP(match[1]!);
  const prefix = Number(match[2]);
  if (family === 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address: match[1]!, prefix, family: family as 4 | 6 };
}

/** Longest host-name regex accepted: matching runs on every peer's sync. */
export const MAX_HOSTNAME_PATTERN = 256;

/**
 * Why a host-name rule is refused, or undefined when it is fine. Besides
 * syntax, patterns that can backtrack catastrophically are refused: a
 * quantified group that itself holds a quantifier (`(a+)+`), and
 * back-references — JavaScript's engine has no time bound.
 */
export function hostnamePatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0 || pattern.length > MAX_HOSTNAME_PATTERN) {
    return `must be 1 to ${MAX_HOSTNAME_PATTERN} characters`;
  }
  try {
    new RegExp(pattern);
  } catch (err) {
    return `is not a regular expression (${(err as Error).message})`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'uses a back-reference';
  if (nestsQuantifiers(pattern)) return 'nests quantifiers, which can backtrack without bound';
  return undefined;
}

/** True when a group holding a quantifier is itself quantified with *, + or {n,}. */
function nestsQuantifiers(pattern: string): boolean {
  const groups: boolean[] = [false];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      // A character class: skip to its unescaped end.
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
    } else if (c === '(') {
      groups.push(false);
    } else if (c === ')') {
      const inner = groups.pop() ?? false;
      const quantified = isQuantifier(pattern, i + 1);
      if (inner && quantified) return true;
      groups[groups.length - 1] ||= inner || quantified;
    } else if (isQuantifier(pattern, i)) {
      groups[groups.length - 1] = true;
    }
  }
  return false;
}

function isQuantifier(pattern: string, at: number): boolean {
  const c = pattern[at];
  return c === '*' || c === '+' || (c === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(at)));
}
