import { createHash, randomBytes } from 'node:crypto';

/*
 * Bearer secrets are 256 random bits with a prefix that says what they are
 * (so a leaked one is recognisable by secret scanners, and a gate can tell
 * a session from a token without a lookup). Only their SHA-256 is stored: a
 * fast hash is enough for a value nobody can guess, unlike a password.
 * Each role names its own prefixes (manager: wrs_/wrp_/wrj_, store: wss_/wst_).
 */

const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
export const SECRET_CHARS = 43;

/** `<prefix>` + 32 random bytes, base64url. */
export function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

/** 32 random bytes, base64url, without a prefix (e.g. a join token's secret part). */
export function randomSecretText(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** What the database stores for a secret. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A session's public name (audit, rate-limit key): a prefix of its secret's hash, not the hash. */
export function sessionId(secretHash: string): string {
  return `ses_${secretHash.slice(0, 16)}`;
}

/** A first admin's one-time password: 24 random bytes, 32 base64url characters. */
export function newOneTimePassword(): string {
  return randomBytes(24).toString('base64url');
}
