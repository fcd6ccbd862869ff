import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { WarrenError } from '../errors.js';

/** Shortest password accepted when one is set. */
export const PASSWORD_MIN_LENGTH = 12;
/** Longest password accepted anywhere: bounds the work one request can cause. */
export const PASSWORD_MAX_LENGTH = 1024;

/** Refuses a password that may not be set (too short or too long). */
export function checkPasswordPolicy(password: string, what = 'password'): void {
  if (password.length < PASSWORD_MIN_LENGTH) {
    throw new WarrenError(
      'PASSWORD_TOO_SHORT',
      `the ${what} must have at least ${PASSWORD_MIN_LENGTH} characters`,
      400,
    );
  }
  if (password.length > PASSWORD_MAX_LENGTH) {
    throw new WarrenError(
      'PASSWORD_TOO_LONG',
      `the ${what} must have at most ${PASSWORD_MAX_LENGTH} characters`,
      400,
    );
  }
}

/**
 * argon2id (the library's default algorithm) with the library's default cost
 * (19 MiB, 2 passes, 1 lane: the OWASP minimum), as a PHC string that carries
 * its own parameters and salt.
 */
export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

let dummyHash: Promise<string> | undefined;

/**
 * Checks `password` against `phc`. Without a hash (unknown user) it still runs
 * one verification, against a hash made at first use with the same
 * parameters, so the answer takes as long and does not reveal which names exist.
 */
export async function verifyPassword(phc: string | undefined, password: string): Promise<boolean> {
  if (phc === undefined) {
    dummyHash ??= hash(randomBytes(32).toString('base64url'));
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await verify(phc, password);
  } catch {
    // A malformed stored hash is a refusal, not a 500 that names the user.
    return false;
  }
}
