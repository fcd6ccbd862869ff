import { APP_ID_PATTERN } from '../../core/release/manifest.js';

/*
 * Which part of the cloud a request is for, from its Host header (pure).
 * The console lives at `<domain>`, each app at `<app>.<domain>` (one label,
 * an app id); anything else is not this gateway's.
 */

const APP_ID = new RegExp(APP_ID_PATTERN);
const HOST_NAME = /^[a-z0-9.-]{1,253}$/;

export type HostTarget =
  /** The console and its API. */
  | { kind: 'console'; port: string | undefined }
  /** An app's subdomain. */
  | { kind: 'app'; appId: string; port: string | undefined }
  /** A subdomain of the domain that is no app id (several labels, bad characters): 404. */
  | { kind: 'no-app' }
  /** Not this domain at all: 421 Misdirected Request. */
  | { kind: 'foreign' };

/** A domain as the gateway compares it: lower case, no trailing dot. */
export function normalizeDomain(domain: string): string {
  const lower = domain.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * Classifies a Host header (port stripped, lower-cased, a trailing dot
 * ignored) against `domain` (already normalized).
 */
export function classifyHost(hostHeader: string | undefined, domain: string): HostTarget {
  if (!hostHeader) return { kind: 'foreign' };
  let name = hostHeader;
  let port: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon !== -1) {
    port = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!/^\d{1,5}$/.test(port)) return { kind: 'foreign' };
  }
  name = name.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (!HOST_NAME.test(name)) return { kind: 'foreign' };
  if (name === domain) return { kind: 'console', port };
  if (
    name.length <= domain.length + 1 ||
    !name.endsWith(domain) ||
    name[name.length - domain.length - 1] !== '.'
  ) {
    return { kind: 'foreign' };
  }
  const label = name.slice(0, name.length - domain.length - 1);
  return APP_ID.test(label) ? { kind: 'app', appId: label, port } : { kind: 'no-app' };
}

/** `:port` for a URL, or '' for none or the default 443. */
function portSuffix(port: string | number | undefined): string {
  return port === undefined || port === '' || String(port) === '443' ? '' : `:${port}`;
}

/** Where the console asks for a handoff to `appId`: `https://<domain>[:port]/#/open/<appId>`. */
export function consoleOpenUrl(domain: string, port: string | number | undefined, appId: string): string {
  return `https://${domain}${portSuffix(port)}/#/open/${encodeURIComponent(appId)}`;
}

/** The https:// URL for a plain-HTTP request to `host` (a checked name, no port) and `path`. */
export function httpsUrl(host: string, port: string | number | undefined, path: string): string {
  return `https://${host}${portSuffix(port)}${path.startsWith('/') ? path : '/'}`;
}

/**
 * A same-origin path to redirect to after a handoff: an absolute path
 * (`/…`, never `//…` or `/\…`, which browsers read as another host) of
 * visible ASCII only; anything else becomes `/`.
 */
export function safeLocalPath(path: string | undefined): string {
  if (!path || path.length > 2048) return '/';
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(path) ? path : '/';
}

/** The path of a request target without its query. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** One query parameter of a request target, or undefined (first occurrence; bad escapes: undefined). */
export function queryParam(url: string | undefined, name: string): string | undefined {
  if (!url) return undefined;
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  try {
    return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
  } catch {
    return undefined;
  }
}
