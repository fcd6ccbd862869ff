import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { newSecret, sha256Hex } from '../../core/auth/secrets.js';
import { WarrenError } from '../../core/errors.js';
import type { CloudDatabase } from '../db/schema.js';
import { CONSOLE_COOKIE } from '../gateway/types.js';
import type { CloudPrincipal } from '../http/access.js';
import type { AuthEvents } from './events.js';
import {
  CSRF_HEADER,
  cookieValue,
  csrfTokenFor,
  csrfTokenMatches,
  SESSION_PREFIX,
  SESSION_SECRET,
  sessionPrefix,
} from './tokens.js';

export interface SessionSettings {
  /** `https://<domain>[:port]`: the Origin every state-changing request must carry. */
  consoleOrigin: string;
  /** A session unused this long ends (default 12 h). */
  sessionIdleMs?: number;
  /** A session ends this long after sign-in, used or not (default 7 d). */
  sessionLifetimeMs?: number;
  /** Sessions kept per user; signing in beyond this ends the oldest (default 20). */
  maxSessionsPerUser?: number;
}

export const DEFAULT_SESSION_IDLE_MS = 12 * 3_600_000;
export const DEFAULT_SESSION_LIFETIME_MS = 7 * 86_400_000;
/** last_seen_at is written at most this often per session. */
const TOUCH_EVERY_MS = 60_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/**
 * What a user whose password was set by someone else (first admin, reset)
 * may do before choosing their own: see who they are, change it, sign out.
 */
const BEFORE_PASSWORD_CHANGE = new Set([
  'GET /api/v1/me',
  'POST /api/v1/me/password',
  'POST /api/v1/logout',
  'GET /api/v1/sessions',
  'DELETE /api/v1/sessions/:id_prefix',
]);

export interface SessionRow {
  id: string;
  user_id: string;
  last_seen_at: string;
  expires_at: string;
  name: string;
  role: 'admin' | 'user';
  must_change_password: number;
}

export interface OpenedSession {
  /** The cookie value: only ever in the login answer's Set-Cookie. */
  secret: string;
  id: string;
  csrfToken: string;
  expiresAt: string;
}

/**
 * Console sessions: 256-bit secrets in the `__Host-warren-session` cookie,
 * stored as their SHA-256; idle and absolute expiry; at most
 * `maxSessionsPerUser` per user; and the gate behind every non-public route
 * (buildRestApp's `authenticate`), which for a state-changing request also
 * wants the console's Origin and the session's CSRF token before the body is read.
 */
export class Sessions {
  readonly consoleOrigin: string;
  readonly idleMs: number;
  readonly lifetimeMs: number;
  private readonly maxPerUser: number;

  constructor(
    private readonly components: {
      db: Kysely<CloudDatabase>;
      events: AuthEvents;
      /** The instance secret (auth/instance-secret.ts): keys the CSRF tokens. */
      instanceSecret: Uint8Array;
      now?: () => number;
    },
    settings: SessionSettings,
  ) {
    this.consoleOrigin = settings.consoleOrigin;
    this.idleMs = settings.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
    this.lifetimeMs = settings.sessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    this.maxPerUser = settings.maxSessionsPerUser ?? 20;
  }

  private get db() {
    return this.components.db;
  }

  now(): number {
    return (this.components.now ?? Date.now)();
  }

  private iso(offsetMs = 0): string {
    return new Date(this.now() + offsetMs).toISOString();
  }

  /** Opens a session for `userId`; ends the user's expired ones and all but the newest `maxSessionsPerUser`. */
  async create(userId: string, address: string, userAgent: string): Promise<OpenedSession> {
    const secret = newSecret(SESSION_PREFIX);
    const id = sha256Hex(secret);
    const now = this.iso();
    const expiresAt = this.iso(this.lifetimeMs);
    await this.db
      .insertInto('sessions')
      .values({
        id,
        user_id: userId,
        address: address.slice(0, 100),
        user_agent: userAgent.slice(0, 256),
        created_at: now,
        last_seen_at: now,
        expires_at: expiresAt,
      })
      .execute();
    const excess = await this.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(this.maxPerUser)
      .limit(1_000)
      .execute();
    await this.endSessions(excess.map((r) => r.id));
    await this.sweep();
    return { secret, id, csrfToken: this.csrfToken(id), expiresAt };
  }

  csrfToken(sessionId: string): string {
    return csrfTokenFor(this.components.instanceSecret, sessionId);
  }

  /** buildRestApp's gate: the principal behind the session cookie, or a 401/403 WarrenError. */
  async authenticate(req: FastifyRequest): Promise<CloudPrincipal> {
    if (req.headers.authorization !== undefined) {
      throw new WarrenError(
        'UNAUTHENTICATED',
        'the console API takes no Authorization header (there are no API tokens); sign in',
        401,
      );
    }
    const secret = this.secretOf(req);
    const row = secret === undefined ? undefined : await this.lookup(sha256Hex(secret));
    if (!row)
      throw new WarrenError('UNAUTHENTICATED', 'not signed in, or the session has ended; sign in', 401);
    if (!SAFE_METHODS.has(req.method)) this.checkCsrf(req, row.id);
    if (
      row.must_change_password === 1 &&
      !BEFORE_PASSWORD_CHANGE.has(`${req.method} ${req.routeOptions.url}`)
    ) {
      throw new WarrenError(
        'PASSWORD_CHANGE_REQUIRED',
        'your password was set by someone else: choose your own first (POST /api/v1/me/password)',
        403,
      );
    }
    await this.touch(row);
    return {
      userId: row.user_id,
      name: row.name,
      role: row.role,
      sessionId: row.id,
      credentialId: `ses_${sessionPrefix(row.id)}`,
    };
  }

  /** Refuses (403 CSRF_REFUSED) a state-changing request from another origin or without the session's token. */
  checkCsrf(req: FastifyRequest, sessionId: string): void {
    this.checkOrigin(req);
    const presented = req.headers[CSRF_HEADER];
    if (
      !csrfTokenMatches(
        this.components.instanceSecret,
        sessionId,
        typeof presented === 'string' ? presented : undefined,
      )
    ) {
      throw new WarrenError(
        'CSRF_REFUSED',
        `a state-changing request needs the session's CSRF token in ${CSRF_HEADER} (from GET /api/v1/me)`,
        403,
      );
    }
  }

  /** Refuses (403 CSRF_REFUSED) a request whose Origin is not the console's. */
  checkOrigin(req: FastifyRequest): void {
    if (req.headers.origin !== this.consoleOrigin) {
      throw new WarrenError(
        'CSRF_REFUSED',
        `a state-changing request must come from the console (Origin ${this.consoleOrigin})`,
        403,
      );
    }
  }

  /** The session secret in the request's cookie, if it has the right shape. */
  secretOf(req: FastifyRequest): string | undefined {
    const value = cookieValue(req.headers.cookie, CONSOLE_COOKIE);
    return value !== undefined && SESSION_SECRET.test(value) ? value : undefined;
  }

  /** The live session `id` with its user, or undefined (an expired one is ended on the way). */
  async lookup(id: string): Promise<SessionRow | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select([
        'sessions.id',
        'sessions.user_id',
        'sessions.last_seen_at',
        'sessions.expires_at',
        'users.name',
        'users.role',
        'users.must_change_password',
      ])
      .where('sessions.id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    if (!this.alive(row)) {
      await this.endSessions([row.id]);
      return undefined;
    }
    return row;
  }

  /** True while neither the idle nor the absolute expiry has passed. */
  alive(row: { last_seen_at: string; expires_at: string }): boolean {
    const now = this.now();
    return Date.parse(row.expires_at) > now && Date.parse(row.last_seen_at) + this.idleMs > now;
  }

  /** Moves the idle expiry forward (written at most once a minute). */
  async touch(row: { id: string; last_seen_at: string }): Promise<void> {
    if (this.now() - Date.parse(row.last_seen_at) < TOUCH_EVERY_MS) return;
    await this.db
      .updateTable('sessions')
      .set({ last_seen_at: this.iso() })
      .where('id', '=', row.id)
      .execute();
  }

  /** The user's live sessions, newest first. */
  async list(userId: string, currentId: string) {
    const rows = await this.db
      .selectFrom('sessions')
      .select(['id', 'created_at', 'last_seen_at', 'expires_at', 'address', 'user_agent'])
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(this.maxPerUser * 2)
      .execute();
    return rows
      .filter((r) => this.alive(r))
      .map(({ id, ...r }) => ({ id_prefix: sessionPrefix(id), ...r, current: id === currentId }));
  }

  /** Ends the user's session whose id starts with `idPrefix` (16 hex characters); 404 when none. */
  async revoke(userId: string, idPrefix: string): Promise<void> {
    if (!/^[0-9a-f]{16}$/.test(idPrefix)) {
      throw new WarrenError('SESSION_NOT_FOUND', 'a session id prefix is 16 hex characters', 404);
    }
    const rows = await this.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', userId)
      .where('id', 'like', `${idPrefix}%`)
      .execute();
    if (rows.length === 0) throw new WarrenError('SESSION_NOT_FOUND', `no session ${idPrefix} of yours`, 404);
    await this.endSessions(rows.map((r) => r.id));
  }

  /** Ends one session (sign-out); its app sessions go with it. */
  async end(sessionId: string): Promise<void> {
    await this.endSessions([sessionId]);
  }

  /**
   * Ends every session of `userId` but `exceptId`; returns the ids ended.
   * Inside a transaction (`db`), the caller tells the events after the commit.
   */
  async endUserSessions(
    userId: string,
    exceptId?: string,
    db: Kysely<CloudDatabase> = this.db,
  ): Promise<string[]> {
    let query = db.selectFrom('sessions').select('id').where('user_id', '=', userId);
    if (exceptId) query = query.where('id', '!=', exceptId);
    const ids = (await query.execute()).map((r) => r.id);
    if (ids.length > 0) await db.deleteFrom('sessions').where('id', 'in', ids).execute();
    if (db === this.db) this.components.events.sessionsEnded(ids);
    return ids;
  }

  /** Deletes every expired session (idle or absolute) and expired app session. */
  async sweep(): Promise<void> {
    const ended = await this.db
      .selectFrom('sessions')
      .select('id')
      .where((eb) =>
        eb.or([eb('expires_at', '<=', this.iso()), eb('last_seen_at', '<=', this.iso(-this.idleMs))]),
      )
      .limit(1_000)
      .execute();
    await this.endSessions(ended.map((r) => r.id));
    await this.db.deleteFrom('app_sessions').where('expires_at', '<=', this.iso()).execute();
  }

  private async endSessions(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    // Cascade: the app sessions made from these go too.
    await this.db.deleteFrom('sessions').where('id', 'in', ids).execute();
    this.components.events.sessionsEnded(ids);
  }
}
