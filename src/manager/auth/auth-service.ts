import type { Kysely } from 'kysely';
import { LoginLimiter } from '../../core/auth/login-limiter.js';
import { LruMap } from '../../core/auth/lru.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../../core/auth/passwords.js';
import { sha256Hex } from '../../core/auth/secrets.js';
import { type Dialect, isDatabaseDown } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ManagerSettings } from '../config.js';
import type { Database, UserRole } from '../db/schema.js';
import type { Principal } from '../http/access.js';
import type { Authenticator } from '../http/app.js';
import {
  findTokenByHash,
  lookupSession,
  lookupToken,
  tokenValidUntil,
  type Verified,
} from './credentials.js';
import { newSecret, parseEnrollToken, SESSION_PREFIX, TOKEN_PREFIX } from './secrets.js';
import { ENROLL_SCOPE, parseScopes } from './token-policy.js';
import { TokenStore } from './tokens.js';
import { UserStore } from './users.js';

export type AuthSettings = Pick<
  ManagerSettings,
  | 'sessionTtlMs'
  | 'tokenMaxLifetimeMs'
  | 'rotationGraceMs'
  | 'loginAttemptsPerMinute'
  | 'loginAttemptsPerAddress'
  | 'cacheRefreshMs'
>;

export interface AuthServiceOptions {
  db: Kysely<Database>;
  dialect: Dialect;
  settings: AuthSettings;
  log: Logger;
  /** SHA-256 of the CA certificate: join tokens carry it. */
  caFingerprint: string;
}

export interface LoginResult {
  token: string;
  expires_at: string;
  user: { id: string; name: string; role: UserRole; must_change_password: boolean };
}

/** Verified principals kept in memory. */
const CACHE_LIMIT = 10_000;
/** With the database down, a principal verified this recently is still served. */
const OUTAGE_GRACE_MS = 10 * 60_000;
/** last_used_at is written at most this often per credential (not once per request). */
const LAST_USED_EVERY_MS = 60_000;
/** Sessions kept per user; logging in again beyond this ends the oldest. */
const SESSIONS_PER_USER = 100;

/**
 * Users, login sessions, personal access tokens and join tokens, and the
 * bearer check behind the REST gate (http/app.ts).
 *
 * A verified credential is cached for at most `cache.refresh`, so a request
 * rarely costs a query, and role changes, revocations and logouts made on
 * another manager replica take effect within that time (on this one at once).
 * While the database is down, a credential verified in the last ten minutes
 * is still accepted, so reads keep working through an outage.
 */
export class AuthService implements Authenticator {
  readonly users: UserStore;
  readonly tokens: TokenStore;
  private readonly db: Kysely<Database>;
  private readonly settings: AuthSettings;
  private readonly log: Logger;
  private readonly caFingerprint: string;
  private readonly cache = new LruMap<string, Verified>(CACHE_LIMIT);
  private readonly userLimiter: LoginLimiter;
  private readonly addressLimiter: LoginLimiter;

  constructor(options: AuthServiceOptions) {
    this.db = options.db;
    this.settings = options.settings;
    this.log = options.log;
    this.caFingerprint = options.caFingerprint;
    this.userLimiter = new LoginLimiter(options.settings.loginAttemptsPerMinute);
    this.addressLimiter = new LoginLimiter(options.settings.loginAttemptsPerAddress);
    this.users = new UserStore(options.db, options.dialect, (userId) => this.evictUser(userId));
    this.tokens = new TokenStore(options.db, options.settings, options.caFingerprint, (tokenId) =>
      this.cache.deleteWhere((v) => v.tokenId === tokenId),
    );
  }

  /** The principal behind a session (`wrs_`) or personal access token (`wrp_`); anything else is unknown. */
  async authenticate(bearer: string, _address: string): Promise<Principal | undefined> {
    const kind = bearer.startsWith(SESSION_PREFIX)
      ? 'session'
      : bearer.startsWith(TOKEN_PREFIX)
        ? 'token'
        : undefined;
    if (!kind) return undefined;
    const key = sha256Hex(bearer);
    const now = Date.now();
    let cached = this.cache.get(key);
    if (cached && now >= cached.validUntil) {
      this.cache.delete(key);
      cached = undefined;
    }
    if (cached && now - cached.verifiedAt < this.settings.cacheRefreshMs) {
      this.touch(cached, now);
      return cached.principal;
    }
    let verified: Verified | undefined;
    try {
      verified =
        kind === 'session' ? await lookupSession(this.db, key, now) : await lookupToken(this.db, key, now);
    } catch (err) {
      if (isDatabaseDown(err) && cached && now - cached.verifiedAt < OUTAGE_GRACE_MS) {
        return cached.principal;
      }
      throw err;
    }
    if (!verified) {
      this.cache.delete(key);
      return undefined;
    }
    this.cache.set(key, verified);
    this.touch(verified, now);
    return verified.principal;
  }

  /** Milliseconds until a login (or password check) for `name` from `address` is allowed again; 0 = now. */
  loginRetryAfterMs(name: string, address: string): number {
    return Math.max(
      this.userLimiter.retryAfterMs(`user:${name}`),
      this.addressLimiter.retryAfterMs(`addr:${address}`),
    );
  }

  /**
   * Checks the password and opens a session; undefined (and a counted
   * failure) when the name or password is wrong. Callers check
   * {@link loginRetryAfterMs} first.
   */
  async login(name: string, password: string, address: string): Promise<LoginResult | undefined> {
    const user = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'role', 'password_hash', 'must_change_password'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!(await verifyPassword(user?.password_hash, password)) || !user) {
      this.recordFailure(name, address);
      return undefined;
    }
    const token = newSecret(SESSION_PREFIX);
    const now = Date.now();
    const expiresAt = new Date(now + this.settings.sessionTtlMs).toISOString();
    await this.db
      .insertInto('sessions')
      .values({
        token_hash: sha256Hex(token),
        user_id: user.id,
        address,
        created_at: new Date(now).toISOString(),
        expires_at: expiresAt,
        last_used_at: new Date(now).toISOString(),
      })
      .execute();
    await this.pruneSessions(user.id, now);
    return {
      token,
      expires_at: expiresAt,
      user: {
        id: user.id,
        name: user.name,
        role: user.role,
        must_change_password: user.must_change_password === 1,
      },
    };
  }

  /** Ends the session whose secret is `bearer`. */
  async logout(bearer: string): Promise<void> {
    const key = sha256Hex(bearer);
    this.cache.delete(key);
    await this.db.deleteFrom('sessions').where('token_hash', '=', key).execute();
  }

  /**
   * Sets a new password after checking the current one, clears the one-time
   * flag and ends the user's other sessions. A wrong current password counts
   * as a failed login (so this is no way around the login limit).
   */
  async changePassword(
    bearer: string,
    userId: string,
    current: string,
    next: string,
    address: string,
  ): Promise<void> {
    checkPasswordPolicy(next, 'new password');
    if (next === current) {
      throw new WarrenError('PASSWORD_UNCHANGED', 'the new password must differ from the current one', 400);
    }
    const user = await this.db
      .selectFrom('users')
      .select(['name', 'password_hash'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!user) throw new WarrenError('NOT_FOUND', 'this user no longer exists', 404);
    if (!(await verifyPassword(user.password_hash, current))) {
      this.recordFailure(user.name, address);
      throw new WarrenError('WRONG_PASSWORD', 'the current password is wrong', 403);
    }
    const keep = sha256Hex(bearer);
    const hash = await hashPassword(next);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ password_hash: hash, password_changed_at: new Date().toISOString(), must_change_password: 0 })
        .where('id', '=', userId)
        .execute();
      await trx
        .deleteFrom('sessions')
        .where('user_id', '=', userId)
        .where('token_hash', '!=', keep)
        .execute();
    });
    this.evictUser(userId);
  }

  /**
   * The join token's id and owner when `token` is a live enrolment token
   * (right hash, not expired or revoked, owner still root, carrying this CA's
   * fingerprint); records its use. Called by `POST /api/v1/enroll`.
   */
  async verifyEnrollToken(token: string): Promise<{ tokenId: string; userName: string } | undefined> {
    const parsed = parseEnrollToken(token);
    if (!parsed || parsed.caFingerprint !== this.caFingerprint) return undefined;
    const now = Date.now();
    const hash = sha256Hex(token);
    const row = await findTokenByHash(this.db, hash);
    if (!row) return undefined;
    // The owner must still be root: a join token can do no more than its owner.
    if (row.role !== 'root' || !parseScopes(row.scopes).includes(ENROLL_SCOPE)) return undefined;
    if (tokenValidUntil(row, hash, now) <= now) return undefined;
    await this.db
      .updateTable('tokens')
      .set({ last_used_at: new Date(now).toISOString() })
      .where('id', '=', row.id)
      .execute();
    return { tokenId: row.id, userName: row.user_name };
  }

  /** Forgets every cached principal of a user (role change, deletion, password change). */
  evictUser(userId: string): void {
    this.cache.deleteWhere((v) => v.userId === userId);
  }

  private recordFailure(name: string, address: string): void {
    this.userLimiter.recordFailure(`user:${name}`);
    this.addressLimiter.recordFailure(`addr:${address}`);
  }

  /** Writes last_used_at when the last write is a minute old; never fails the request. */
  private touch(verified: Verified, now: number): void {
    if (now - verified.lastUsedAt < LAST_USED_EVERY_MS) return;
    verified.lastUsedAt = now;
    const at = new Date(now).toISOString();
    const write = verified.tokenId
      ? this.db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', verified.tokenId)
      : this.db
          .updateTable('sessions')
          .set({ last_used_at: at })
          .where('token_hash', '=', verified.sessionHash ?? '');
    write.execute().catch((err: unknown) => {
      this.log.debug({ err: String(err) }, 'could not record the last use of a credential');
    });
  }

  /** Drops the user's expired sessions and all but the newest {@link SESSIONS_PER_USER}. */
  private async pruneSessions(userId: string, now: number): Promise<void> {
    const excess = await this.db
      .selectFrom('sessions')
      .select('token_hash')
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('token_hash')
      .offset(SESSIONS_PER_USER)
      .limit(1_000)
      .execute();
    const hashes = excess.map((r) => r.token_hash);
    for (const h of hashes) this.cache.delete(h);
    await this.db
      .deleteFrom('sessions')
      .where('user_id', '=', userId)
      .where((eb) => {
        const expired = eb('expires_at', '<=', new Date(now).toISOString());
        return hashes.length > 0 ? eb.or([expired, eb('token_hash', 'in', hashes)]) : expired;
      })
      .execute();
  }
}
