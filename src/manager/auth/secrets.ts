import { newSecret as newPrefixedSecret, randomSecretText, SECRET_CHARS } from '../../core/auth/secrets.js';

/*
 * The manager's bearer secrets (the generic parts are in core/auth/secrets.ts):
 * the prefix says what a secret is, so the gate tells a session from a token
 * without a lookup.
 */

/** Login session: `wrs_` + 32 random bytes, base64url. */
export const SESSION_PREFIX = 'wrs_';
/** Personal access token. */
export const TOKEN_PREFIX = 'wrp_';
/** Enrolment (join) token: `wrj_<secret>_<CA fingerprint>`; never a bearer credential. */
export const ENROLL_PREFIX = 'wrj_';

export function newSecret(prefix: typeof SESSION_PREFIX | typeof TOKEN_PREFIX): string {
  return newPrefixedSecret(prefix);
}

/**
 * A join token carries the SHA-256 fingerprint of the CA certificate, so the
 * component that enrols can pin the CA before it trusts anything the manager says.
 */
export function newEnrollSecret(caFingerprint: string): string {
  return `${ENROLL_PREFIX}${randomSecretText()}_${caFingerprint.toLowerCase()}`;
}

const ENROLL_PATTERN = new RegExp(`^${ENROLL_PREFIX}([A-Za-z0-9_-]{${SECRET_CHARS}})_([0-9a-f]{64})$`);

/** The CA fingerprint in a well-formed join token, or undefined. */
export function parseEnrollToken(token: string): { caFingerprint: string } | undefined {
  const match = ENROLL_PATTERN.exec(token);
  return match ? { caFingerprint: match[2]! } : undefined;
}
