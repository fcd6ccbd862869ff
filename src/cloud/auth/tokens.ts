import { createHmac, timingSafeEqual } from 'node:crypto';
import { CONSOLE_COOKIE } from '../gateway/types.js';

/*
 * The console's secrets and how they travel (pure helpers; the services in
 * this folder store only SHA-256 hashes of the secrets).
 */

/** Console session secrets: a prefix (recognisable by secret scanners) + 32 random bytes, base64url. */
export const SESSION_PREFIX = 'wcs_';
/** Invitation codes. */
export const INVITATION_PREFIX = 'wci_';
/** The header a state-changing console request carries its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';
/** A session secret as the cookie carries it. */
export const SESSION_SECRET = /^wcs_[A-Za-z0-9_-]{43}$/;

/**
 * A session's CSRF token: HMAC-SHA-256 keyed by the instance secret over the
 * session id. It needs no storage, changes with every session, and no other
 * site can compute it (it has neither the key nor the HttpOnly cookie); the
 * console reads it from the login answer or `GET /api/v1/me` (same origin only).
 */
export function csrfTokenFor(instanceSecret: Uint8Array, sessionId: string): string {
  return createHmac('sha256', instanceSecret).update(`warren-cloud-csrf\n${sessionId}`).digest('base64url');
}

/** Constant-time check of a presented CSRF token. */
export function csrfTokenMatches(
  instanceSecret: Uint8Array,
  sessionId: string,
  presented: string | undefined,
): boolean {
  if (presented === undefined || presented.length > 200) return false;
  const expected = Buffer.from(csrfTokenFor(instanceSecret, sessionId));
  const given = Buffer.from(presented);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export { cookieValue } from '../../core/http/cookies.js';

/**
 * The Set-Cookie value that opens a console session (`maxAgeMs` > 0) or ends
 * it (0). `__Host-` makes browsers insist on Secure and Path=/ and refuse a
 * Domain, so an app on a subdomain can neither read, set nor shadow it.
 */
export function consoleCookie(secret: string, maxAgeMs: number): string {
  const maxAge = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${CONSOLE_COOKIE}=${secret}; Path=/; Max-Age=${maxAge}; Secure; HttpOnly; SameSite=Strict`;
}

/** A session's public name (list, revoke, audit): the first 16 hex characters of its id. */
export function sessionPrefix(sessionId: string): string {
  return sessionId.slice(0, 16);
}
