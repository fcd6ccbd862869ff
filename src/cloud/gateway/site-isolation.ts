/*
 * Every app of an instance lives on a sibling subdomain of one site
 * (`<app>.<domain>`), so browsers treat them as the SAME SITE: an app's
 * SameSite=Lax cookie is sent on requests that another app's page makes to
 * it — a form POST, a fetch with credentials, a WebSocket. A malicious app
 * could act in another app as the signed-in user. The gateway therefore
 * accepts, on an app's host, only requests that come from that app itself
 * or are a plain top-level navigation (a link, the console's handoff):
 * the Fetch Metadata resource isolation policy, with the Origin header as
 * the fallback for browsers that send no Sec-Fetch-* headers. Pure.
 */

export interface SiteFacts {
  method: string;
  /** Sec-Fetch-Site: 'same-origin' | 'same-site' | 'cross-site' | 'none', if sent. */
  fetchSite: string | undefined;
  /** Sec-Fetch-Mode: 'navigate' | 'cors' | 'no-cors' | 'same-origin' | 'websocket', if sent. */
  fetchMode: string | undefined;
  /** Origin, if sent. */
  origin: string | undefined;
}

const SAFE = new Set(['GET', 'HEAD']);

/**
 * Why a request to the app at `appOrigin` (`https://<app>.<domain>[:port]`)
 * is refused as coming from another site or another app, or undefined.
 */
export function crossOriginRefusal(facts: SiteFacts, appOrigin: string): string | undefined {
  const site = facts.fetchSite?.toLowerCase();
  if (site !== undefined) {
    // 'none': the user typed the address or used a bookmark.
    if (site === 'same-origin' || site === 'none') return undefined;
    if (facts.fetchMode?.toLowerCase() === 'navigate' && SAFE.has(facts.method)) return undefined;
    return `a ${site} ${facts.fetchMode ?? ''} ${facts.method} request (only the app itself, or a link to it, may reach it)`;
  }
  // No Fetch Metadata (an older browser, or not a browser): a state-changing
  // request or an upgrade that names another origin is refused.
  if (facts.origin !== undefined && facts.origin !== 'null' && facts.origin !== appOrigin) {
    if (!SAFE.has(facts.method)) return `a ${facts.method} request from ${facts.origin}`;
  }
  if (facts.origin === 'null' && !SAFE.has(facts.method))
    return `a ${facts.method} request from an opaque origin`;
  return undefined;
}
