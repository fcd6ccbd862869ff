import type { Kysely } from 'kysely';
import { sessionId } from '../../core/auth/secrets.js';
import type { Database } from '../db/schema.js';
import { type Principal, TOKEN_SCOPES } from '../http/access.js';
import { ENROLL_SCOPE, parseScopes } from './token-policy.js';

/*
 * The database side of checking a bearer secret: find the session or token
 * by the SHA-256 of the secret, with its owner's current role, and decide
 * until when it holds. The cache and its policies live in auth-service.ts.
 */

/** A verified credential, as the cache in auth-service.ts keeps it. */
export interface Verified {
  principal: Principal;
  userId: string;
  tokenId?: string;
  /** SHA-256 of a session's secret (its primary key). */
  sessionHash?: string;
  /** When the database last confirmed it. */
  verifiedAt: number;
  /** It stops being valid then (expiry, or the end of a rotation grace) whatever the cache says. */
  validUntil: number;
  /** When last_used_at was last written (or read as written). */
  lastUsedAt: number;
}

/** The live session whose secret hashes to `hash`. */
export async function lookupSession(
  db: Kysely<Database>,
  hash: string,
  now: number,
): Promise<Verified | undefined> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'sessions.expires_at',
      'sessions.last_used_at',
      'users.id as user_id',
      'users.name',
      'users.role',
      'users.must_change_password',
    ])
    .where('sessions.token_hash', '=', hash)
    .executeTakeFirst();
  const expires = row ? Date.parse(row.expires_at) : 0;
  if (!row || expires <= now) return undefined;
  return {
    principal: {
      kind: 'session',
      userId: row.user_id,
      userName: row.name,
      role: row.role,
      scopes: new Set(TOKEN_SCOPES),
      credentialId: sessionId(hash),
      mustChangePassword: row.must_change_password === 1,
    },
    userId: row.user_id,
    sessionHash: hash,
    verifiedAt: now,
    validUntil: expires,
    lastUsedAt: Date.parse(row.last_used_at),
  };
}

/** The live personal access token whose current or (within the grace) previous secret hashes to `hash`. */
export async function lookupToken(
  db: Kysely<Database>,
  hash: string,
  now: number,
): Promise<Verified | undefined> {
  const row = await findTokenByHash(db, hash);
  if (!row) return undefined;
  const until = tokenValidUntil(row, hash, now);
  const scopes = parseScopes(row.scopes);
  // A join token is never a bearer credential.
  if (until <= now || scopes.includes(ENROLL_SCOPE)) return undefined;
  return {
    principal: {
      kind: 'token',
      userId: row.user_id,
      userName: row.user_name,
      // The owner's role now, so a token never outranks its owner.
      role: row.role,
      scopes: new Set(TOKEN_SCOPES.filter((s) => scopes.includes(s))),
      credentialId: row.id,
      mustChangePassword: row.must_change_password === 1,
    },
    userId: row.user_id,
    tokenId: row.id,
    verifiedAt: now,
    validUntil: until,
    lastUsedAt: row.last_used_at ? Date.parse(row.last_used_at) : 0,
  };
}

/** The token (any kind) whose current or previous (rotated) secret hashes to `hash`, with its owner. */
export function findTokenByHash(db: Kysely<Database>, hash: string) {
  return db
    .selectFrom('tokens')
    .innerJoin('users', 'users.id', 'tokens.user_id')
    .select([
      'tokens.id',
      'tokens.user_id',
      'tokens.scopes',
      'tokens.secret_hash',
      'tokens.previous_valid_until',
      'tokens.expires_at',
      'tokens.revoked_at',
      'tokens.last_used_at',
      'users.name as user_name',
      'users.role',
      'users.must_change_password',
    ])
    .where((eb) => eb.or([eb('tokens.secret_hash', '=', hash), eb('tokens.previous_hash', '=', hash)]))
    .executeTakeFirst();
}

/** When a token found by `hash` stops being valid: expiry, revocation, or the end of a rotation's grace. */
export function tokenValidUntil(
  row: {
    secret_hash: string;
    previous_valid_until: string | null;
    expires_at: string;
    revoked_at: string | null;
  },
  hash: string,
  now: number,
): number {
  if (row.revoked_at) return now;
  const expires = Date.parse(row.expires_at);
  if (row.secret_hash === hash) return expires;
  const grace = row.previous_valid_until ? Date.parse(row.previous_valid_until) : now;
  return Math.min(expires, grace);
}
