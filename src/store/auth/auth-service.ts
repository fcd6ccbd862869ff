import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { LoginLimiter } from '../../core/auth/login-limiter.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../../core/auth/passwords.js';
import { newSecret, sessionId, sha256Hex } from '../../core/auth/secrets.js';
import { newId, nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { bearerOf } from '../../core/http/app.js';
import type { StoreSettings } from '../config.js';
import type { StoreDatabase } from '../db/schema.js';
import type { StorePrincipal } from '../http/access.js';
import {
  CSRF_HEADER,
  cookieValue,
  csrfTokenFor,
  csrfTokenMatches,
  SESSION_COOKIE,
  SESSION_PREFIX,
  TOKEN_PREFIX,
} from './secrets.js';

export type AuthSettings = Pick<
  StoreSettings,
  'sessionTtlMs' | 'tokenMaxLifetimeMs' | 'loginAttemptsPerMinute' | 'loginAttemptsPerAddress'
>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Sessions kept per maintainer; logging in again beyond this ends the oldest. */
const SESSIONS_PER_MAINTAINER = 50;
/** API tokens per maintainer. */
const TOKENS_PER_MAINTAINER = 100;
/** last_used_at is written at most this often per token. */
const LAST_USED_EVERY_MS = 60_000;

export interface Session {
  /** The cookie value: only in the login answer's Set-Cookie, never in a body. */
  secret: string;
  csrfToken: string;
  expiresAt: string;
  maintainer: { id: string; name: string; admin: boolean; official: boolean };
}

/**
 * Console sessions (cookie + CSRF token), API tokens (bearer), login limits,
 * and the check behind the REST gate: a bearer `wst_` token, or the session
 * cookie — and then, for any request that may change state, the session's
 * CSRF token in `x-csrf-token`. A cookie without the right token is refused
 * before the body is read, so the request changes nothing.
 */
export class StoreAuth {
  private readonly userLimiter: LoginLimiter;
  readonly addressLimiter: LoginLimiter;

  constructor(
    private readonly db: Kysely<StoreDatabase>,
    private readonly settings: AuthSettings,
  ) {
    this.userLimiter = new LoginLimiter(settings.loginAttemptsPerMinute);
    this.addressLimiter = new LoginLimiter(settings.loginAttemptsPerAddress);
  }

  async authenticate(req: FastifyRequest): Promise<StorePrincipal> {
    const bearer = bearerOf(req);
    if (bearer !== undefined) {
      const principal = bearer.startsWith(TOKEN_PREFIX) ? await this.tokenPrincipal(bearer) : undefined;
      if (!principal)
        throw new WarrenError('UNAUTHENTICATED', 'the API token is unknown, expired or revoked', 401);
      return principal;
    }
    const secret = this.sessionSecretOf(req);
    if (secret === undefined) {
      throw new WarrenError(
        'UNAUTHENTICATED',
        'this endpoint needs `Authorization: Bearer <API token>` or a console session',
        401,
      );
    }
    const principal = await this.sessionPrincipal(secret);
    if (!principal)
      throw new WarrenError('UNAUTHENTICATED', 'the session is unknown or expired; log in', 401);
    if (!SAFE_METHODS.has(req.method)) {
      const presented = req.headers[CSRF_HEADER];
      if (!csrfTokenMatches(secret, typeof presented === 'string' ? presented : undefined)) {
        throw new WarrenError(
          'CSRF_TOKEN_INVALID',
          `a cookie-authenticated request that changes state needs the session's CSRF token in ${CSRF_HEADER}`,
          403,
        );
      }
    }
    return principal;
  }

  /** The session secret of the request's cookie, if it has one of the right shape. */
  sessionSecretOf(req: FastifyRequest): string | undefined {
    const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
    return value?.startsWith(SESSION_PREFIX) && value.length <= 100 ? value : undefined;
  }

  /** Milliseconds until a login for `name` from `address` is allowed again; 0 = now. */
  loginRetryAfterMs(name: string, address: string): number {
    return Math.max(
      this.userLimiter.retryAfterMs(`user:${name}`),
      this.addressLimiter.retryAfterMs(`addr:${address}`),
    );
  }

  recordFailure(name: string, address: string): void {
    this.userLimiter.recordFailure(`user:${name}`);
    this.addressLimiter.recordFailure(`addr:${address}`);
  }

  /** Checks the password and opens a session; undefined (and a counted failure) when wrong. */
  async login(name: string, password: string, address: string): Promise<Session | undefined> {
    const row = await this.db
      .selectFrom('maintainers')
      .select(['id', 'name', 'password_hash', 'is_admin', 'official'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!(await verifyPassword(row?.password_hash, password)) || !row) {
      this.recordFailure(name, address);
      return undefined;
    }
    const secret = newSecret(SESSION_PREFIX);
    const expiresAt = nowIso(this.settings.sessionTtlMs);
    await this.db
      .insertInto('sessions')
      .values({
        token_hash: sha256Hex(secret),
        maintainer_id: row.id,
        address,
        created_at: nowIso(),
        expires_at: expiresAt,
      })
      .execute();
    await this.pruneSessions(row.id);
    return {
      secret,
      csrfToken: csrfTokenFor(secret),
      expiresAt,
      maintainer: { id: row.id, name: row.name, admin: row.is_admin === 1, official: row.official === 1 },
    };
  }

  async logout(secret: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', sha256Hex(secret)).execute();
  }

  /** Sets a new password after checking the current one and ends the maintainer's other sessions. */
  async changePassword(
    principal: StorePrincipal,
    current: string,
    next: string,
    address: string,
    keepSession: string | undefined,
  ): Promise<void> {
    checkPasswordPolicy(next, 'new password');
    const row = await this.db
      .selectFrom('maintainers')
      .select(['password_hash'])
      .where('id', '=', principal.maintainerId)
      .executeTakeFirst();
    if (!(await verifyPassword(row?.password_hash, current))) {
      this.recordFailure(principal.name, address);
      throw new WarrenError('WRONG_PASSWORD', 'the current password is wrong', 403);
    }
    const hash = await hashPassword(next);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('maintainers')
        .set({ password_hash: hash })
        .where('id', '=', principal.maintainerId)
        .execute();
      await trx
        .deleteFrom('sessions')
        .where('maintainer_id', '=', principal.maintainerId)
        .where('token_hash', '!=', keepSession ? sha256Hex(keepSession) : '')
        .execute();
    });
  }

  /** A new API token (`wst_…`); the secret is returned once and only its hash kept. */
  async createToken(
    principal: StorePrincipal,
    name: string,
    lifetimeMs: number,
  ): Promise<{ id: string; token: string; name: string; expires_at: string }> {
    if (lifetimeMs > this.settings.tokenMaxLifetimeMs) {
      throw new WarrenError(
        'TOKEN_LIFETIME_TOO_LONG',
        `an API token may live at most ${Math.floor(this.settings.tokenMaxLifetimeMs / 86_400_000)} days`,
        400,
      );
    }
    const count = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('maintainer_id', '=', principal.maintainerId)
      .where('revoked_at', 'is', null)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= TOKENS_PER_MAINTAINER) {
      throw new WarrenError('TOO_MANY_TOKENS', `at most ${TOKENS_PER_MAINTAINER} live API tokens`, 409);
    }
    const token = newSecret(TOKEN_PREFIX);
    const row = {
      id: newId('tok'),
      maintainer_id: principal.maintainerId,
      name,
      secret_hash: sha256Hex(token),
      created_at: nowIso(),
      expires_at: nowIso(lifetimeMs),
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.insertInto('api_tokens').values(row).execute();
    return { id: row.id, token, name, expires_at: row.expires_at };
  }

  listTokens(principal: StorePrincipal) {
    return this.db
      .selectFrom('api_tokens')
      .select(['id', 'name', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'])
      .where('maintainer_id', '=', principal.maintainerId)
      .orderBy('created_at', 'desc')
      .limit(TOKENS_PER_MAINTAINER * 2)
      .execute();
  }

  async revokeToken(principal: StorePrincipal, id: string): Promise<void> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: nowIso() })
      .where('id', '=', id)
      .where('maintainer_id', '=', principal.maintainerId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      throw new WarrenError('NOT_FOUND', `no live API token ${id} of yours`, 404);
    }
  }

  private async tokenPrincipal(token: string): Promise<StorePrincipal | undefined> {
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('maintainers', 'maintainers.id', 'api_tokens.maintainer_id')
      .select([
        'api_tokens.id as token_id',
        'api_tokens.expires_at',
        'api_tokens.revoked_at',
        'api_tokens.last_used_at',
        'maintainers.id',
        'maintainers.name',
        'maintainers.is_admin',
        'maintainers.official',
      ])
      .where('api_tokens.secret_hash', '=', sha256Hex(token))
      .executeTakeFirst();
    const now = Date.now();
    if (!row || row.revoked_at !== null || Date.parse(row.expires_at) <= now) return undefined;
    if (!row.last_used_at || now - Date.parse(row.last_used_at) > LAST_USED_EVERY_MS) {
      await this.db
        .updateTable('api_tokens')
        .set({ last_used_at: new Date(now).toISOString() })
        .where('id', '=', row.token_id)
        .execute();
    }
    return {
      kind: 'token',
      maintainerId: row.id,
      name: row.name,
      admin: row.is_admin === 1,
      official: row.official === 1,
      credentialId: row.token_id,
    };
  }

  private async sessionPrincipal(secret: string): Promise<StorePrincipal | undefined> {
    const hash = sha256Hex(secret);
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('maintainers', 'maintainers.id', 'sessions.maintainer_id')
      .select([
        'sessions.expires_at',
        'maintainers.id',
        'maintainers.name',
        'maintainers.is_admin',
        'maintainers.official',
      ])
      .where('sessions.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row || Date.parse(row.expires_at) <= Date.now()) return undefined;
    return {
      kind: 'session',
      maintainerId: row.id,
      name: row.name,
      admin: row.is_admin === 1,
      official: row.official === 1,
      credentialId: sessionId(hash),
    };
  }

  /** Drops the maintainer's expired sessions and all but the newest {@link SESSIONS_PER_MAINTAINER}. */
  private async pruneSessions(maintainerId: string): Promise<void> {
    const excess = await this.db
      .selectFrom('sessions')
      .select('token_hash')
      .where('maintainer_id', '=', maintainerId)
      .orderBy('created_at', 'desc')
      .orderBy('token_hash')
      .offset(SESSIONS_PER_MAINTAINER)
      .limit(1_000)
      .execute();
    const hashes = excess.map((r) => r.token_hash);
    await this.db
      .deleteFrom('sessions')
      .where('maintainer_id', '=', maintainerId)
      .where((eb) => {
        const expired = eb('expires_at', '<=', nowIso());
        return hashes.length > 0 ? eb.or([expired, eb('token_hash', 'in', hashes)]) : expired;
      })
      .execute();
  }
}
