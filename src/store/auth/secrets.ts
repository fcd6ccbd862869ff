import { createHash, timingSafeEqual } from 'node:crypto';

/*
 * The store's secrets (generic parts in core/auth/secrets.ts). The prefix says
 * what a secret is: a console session (the cookie), an API token (bearer), an
 * invitation code. Only their SHA-256 is stored.
 */

export const SESSION_PREFIX = 'wss_';
export const TOKEN_PREFIX = 'wst_';
export const INVITATION_PREFIX = 'wsi_';

/**
 * The session cookie. `__Host-` makes browsers require Secure and Path=/ and
 * refuse a Domain attribute, so no sibling host can set or shadow it.
 */
export const SESSION_COOKIE = '__Host-warren-store-session';
/** The header a cookie-authenticated state-changing request must carry. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * The CSRF token of a session: derived from the session secret, so it needs
 * no storage, and no other site can compute it (the cookie is HttpOnly and a
 * hash does not give the secret back). The console reads it from the login
 * answer or `GET /api/v1/auth/session` (same-origin only) and sends it back in
 * {@link CSRF_HEADER}.
 */
export function csrfTokenFor(sessionSecret: string): string {
  return createHash('sha256').update(`warren-store-csrf\n${sessionSecret}`, 'utf8').digest('base64url');
}

/** Constant-time check of a presented CSRF token. */
export function csrfTokenMatches(sessionSecret: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const expected = Buffer.from(csrfTokenFor(sessionSecret), 'utf8');
  const given = Buffer.from(presented, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export { cookieValue } from '../../core/http/cookies.js';

/** The Set-Cookie value that opens a session (`maxAgeMs` > 0) or ends it (0). */
export function sessionCookie(secret: string, maxAgeMs: number): string {
  const maxAge = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${SESSION_COOKIE}=${secret}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`;
}
