import { WarrenError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { type Scope, TOKEN_SCOPES } from '../http/access.js';

/** The one scope of an enrolment (join) token: it is never a bearer credential. */
export const ENROLL_SCOPE = 'enroll';
export type TokenScope = Scope | typeof ENROLL_SCOPE;
export const ALL_TOKEN_SCOPES: readonly TokenScope[] = [...TOKEN_SCOPES, ENROLL_SCOPE];

/** A join token lives at most a week (it lets anyone holding it get a certificate) … */
export const ENROLL_MAX_LIFETIME_MS = 7 * 86_400_000;
/** … and a day when the request names no expiry. */
export const ENROLL_DEFAULT_LIFETIME_MS = 86_400_000;

/**
 * Checks a requested scope list: not empty, only known scopes, and `enroll`
 * only alone (a join token must not double as an API token). Duplicates are
 * dropped; the result keeps the canonical order.
 */
export function checkScopes(requested: readonly string[]): { scopes: TokenScope[]; enroll: boolean } {
  if (requested.length === 0) {
    throw new WarrenError(
      'BAD_REQUEST',
      `'scopes' must name at least one of ${ALL_TOKEN_SCOPES.join(', ')}`,
      400,
    );
  }
  for (const scope of requested) {
    if (!(ALL_TOKEN_SCOPES as readonly string[]).includes(scope)) {
      throw new WarrenError(
        'BAD_REQUEST',
        `unknown scope '${scope}' (known: ${ALL_TOKEN_SCOPES.join(', ')})`,
        400,
      );
    }
  }
  const scopes = ALL_TOKEN_SCOPES.filter((s) => requested.includes(s));
  const enroll = scopes.includes(ENROLL_SCOPE);
  if (enroll && scopes.length > 1) {
    throw new WarrenError('BAD_REQUEST', "the 'enroll' scope cannot be combined with other scopes", 400);
  }
  return { scopes, enroll };
}

/** Stored as space-separated text (see TokensTable.scopes). */
export function formatScopes(scopes: readonly TokenScope[]): string {
  return scopes.join(' ');
}

export function parseScopes(stored: string): TokenScope[] {
  return stored
    .split(' ')
    .filter((s): s is TokenScope => (ALL_TOKEN_SCOPES as readonly string[]).includes(s));
}

export interface ExpiryRequest {
  /** A duration from now, like '30d' or '12h'. */
  expires_in?: string;
  /** An ISO-8601 instant. */
  expires_at?: string;
}

/**
 * The expiry (ISO) a new token gets: exactly one of `expires_in`/`expires_at`,
 * in the future and at most `maxMs` away. Without either, `defaultMs` if the
 * kind of token has one, else refused — a personal access token always expires.
 */
export function resolveExpiry(
  request: ExpiryRequest,
  limits: { maxMs: number; defaultMs?: number },
  now = Date.now(),
): string {
  const { expires_in: expiresIn, expires_at: expiresAt } = request;
  if (expiresIn !== undefined && expiresAt !== undefined) {
    throw new WarrenError('BAD_REQUEST', "give either 'expires_in' or 'expires_at', not both", 400);
  }
  let at: number;
  if (expiresIn !== undefined) {
    at = now + parseDuration(expiresIn, "'expires_in'");
  } else if (expiresAt !== undefined) {
    at = Date.parse(expiresAt);
    if (Number.isNaN(at)) {
      throw new WarrenError('BAD_REQUEST', `'expires_at': '${expiresAt}' is not an ISO-8601 time`, 400);
    }
  } else if (limits.defaultMs !== undefined) {
    at = now + limits.defaultMs;
  } else {
    throw new WarrenError(
      'BAD_REQUEST',
      "a token needs an expiry: give 'expires_in' (like '30d') or 'expires_at'",
      400,
    );
  }
  if (at <= now) throw new WarrenError('BAD_REQUEST', 'the expiry must be in the future', 400);
  if (at - now > limits.maxMs) {
    throw new WarrenError(
      'BAD_REQUEST',
      `the expiry is too far away: at most ${formatDays(limits.maxMs)} from now`,
      400,
    );
  }
  return new Date(at).toISOString();
}

function formatDays(ms: number): string {
  const days = ms / 86_400_000;
  return Number.isInteger(days) ? `${days} days` : `${Math.round(ms / 1000)} s`;
}
