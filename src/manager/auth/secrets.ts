import { createHash, randomBytes } from 'node:crypto';

/*
 * Bearer secrets are 256 random bits with a prefix that says what they are
 * (so a leaked one is recognisable by secret scanners, and the gate can tell
 * a session from a token without a lookup). Only their SHA-256 is stored: a
 * fast hash is enough for a value nobody can guess, unlike a password.
 */

/** Login session: `wrs_` + 32 random bytes, base64url. */
export const SESSION_PREFIX = 'wrs_';
/** Personal access token. */
export const TOKEN_PREFIX = 'wrp_';
/** Enrolment (join) token: `wrj_<secret>_<CA fingerprint>`; never a bearer credential. */
export const ENROLL_PREFIX = 'wrj_';

const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const SECRET_CHARS = 43;

export function newSecret(prefix: typeof SESSION_PREFIX | typeof TOKEN_PREFIX): string {
  return `${prefix}${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

/**
 * A join token carries the SHA-256 fingerprint of the CA certificate, so the
 * component that enrols can pin the CA before it trusts anything the manager says.
 */
export function newEnrollSecret(caFingerprint: string): string {
  return `${ENROLL_PREFIX}${randomBytes(SECRET_BYTES).toString('base64url')}_${caFingerprint.toLowerCase()}`;
}

const ENROLL_PATTERN = new RegExp(`^${ENROLL_PREFIX}([A-Za-z0-9_-]{${SECRET_CHARS}})_([0-9a-f]{64})$`);

/** The CA fingerprint in a well-formed join token, or undefined. */
export function parseEnrollToken(token: string): { caFingerprint: string } | undefined {
  const match = ENROLL_PATTERN.exec(token);
  return match ? { caFingerprint: match[2]! } : undefined;
}

/** What the database stores for a secret. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A session's public name (audit, rate-limit key): a prefix of its secret's hash, not the hash. */
export function sessionId(secretHash: string): string {
  return `ses_${secretHash.slice(0, 16)}`;
}

/** The first root's one-time password: 24 random bytes, 32 base64url characters. */
export function newOneTimePassword(): string {
  return randomBytes(24).toString('base64url');
}
