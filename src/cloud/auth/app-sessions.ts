import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LruMap } from '../../core/auth/lru.js';
import { sha256Hex } from '../../core/auth/secrets.js';
import type { CloudDatabase } from '../db/schema.js';
import type { AppSessionGate, AppVisitor } from '../gateway/types.js';
import type { CloudPrincipal } from '../http/access.js';
import type { AppAccess } from './access.js';
import type { AuthEvents } from './events.js';
import type { Sessions } from './sessions.js';

export interface AppSessionSettings {
  /** A handoff secret must be redeemed within this (default 60 s). */
  handoffTtlMs?: number;
  /** Handoffs waiting at once (default 10 000; beyond, the oldest is dropped). */
  maxHandoffs?: number;
  /** Visitors cached (default 10 000). */
  cacheSize?: number;
  /** A cached visitor is re-checked against the database after this (default 5 s). */
  cacheTtlMs?: number;
}

interface Handoff {
  userId: string;
  sessionId: string;
  appId: string;
  expiresAt: number;
}

interface CachedVisitor {
  appId: string;
  userId: string;
  userName: string;
  sessionId: string;
  /** When this entry stops being trusted (≤ 5 s, and never past any expiry). */
  validUntil: number;
}

/**
 * How a signed-in user reaches an app on its own subdomain, where the console
 * cookie is not sent (`__Host-` cookies are host-only):
 * 1. the console asks for a handoff (POST /api/v1/apps/:id/handoff): a 256-bit
 *    secret in memory for 60 s, bound to the user, the console session and the app;
 * 2. the browser follows `https://<app>.<domain>/.warren/handoff?secret=…`;
 *    the gateway redeems it (once: it is deleted on the first attempt, whatever
 *    the outcome) for an app session, a row in app_sessions whose cookie is
 *    host-only on the app's subdomain and that dies with its console session;
 * 3. on every app request the gateway asks {@link visitor}: the answer comes
 *    from a small cache for up to 5 s, dropped at once on sign-out, revocation,
 *    password change, user deletion or an access change (auth/events.ts).
 */
export class AppSessions implements AppSessionGate {
  private readonly handoffs = new Map<string, Handoff>();
  private readonly cache: LruMap<string, CachedVisitor>;
  /** Bumped by every invalidation: a database answer read before one is not cached. */
  private generation = 0;
  private readonly handoffTtlMs: number;
  private readonly maxHandoffs: number;
  private readonly cacheTtlMs: number;

  constructor(
    private readonly components: {
      db: Kysely<CloudDatabase>;
      sessions: Sessions;
      access: AppAccess;
      events: AuthEvents;
      now?: () => number;
    },
    settings: AppSessionSettings = {},
  ) {
    this.handoffTtlMs = settings.handoffTtlMs ?? 60_000;
    this.maxHandoffs = settings.maxHandoffs ?? 10_000;
    this.cacheTtlMs = Math.min(settings.cacheTtlMs ?? 5_000, 5_000);
    this.cache = new LruMap(settings.cacheSize ?? 10_000);
    components.events.subscribe({
      sessionsEnded: (ids) => {
        const ended = new Set(ids);
        this.invalidate((v) => ended.has(v.sessionId));
        for (const [key, h] of this.handoffs) if (ended.has(h.sessionId)) this.handoffs.delete(key);
      },
      userChanged: (userId) => {
        this.invalidate((v) => v.userId === userId);
        for (const [key, h] of this.handoffs) if (h.userId === userId) this.handoffs.delete(key);
      },
      appAccessChanged: (appId) => this.invalidate((v) => v.appId === appId),
    });
  }

  private now(): number {
    return (this.components.now ?? Date.now)();
  }

  /** A new handoff secret for `principal` to open `appId` (the caller checked access). */
  createHandoff(principal: CloudPrincipal, appId: string): string {
    const now = this.now();
    if (this.handoffs.size >= this.maxHandoffs) {
      for (const [key, h] of this.handoffs) if (h.expiresAt <= now) this.handoffs.delete(key);
    }
    while (this.handoffs.size >= this.maxHandoffs) {
      this.handoffs.delete(this.handoffs.keys().next().value as string);
    }
    const secret = randomBytes(32).toString('base64url');
    this.handoffs.set(sha256Hex(secret), {
      userId: principal.userId,
      sessionId: principal.sessionId,
      appId,
      expiresAt: now + this.handoffTtlMs,
    });
    return secret;
  }

  async redeemHandoff(
    appId: string,
    secret: string,
  ): Promise<{ cookieValue: string; maxAgeSeconds: number } | undefined> {
    if (secret.length > 100) return undefined;
    const key = sha256Hex(secret);
    const handoff = this.handoffs.get(key);
    // Single use: gone on the first attempt, even one that fails below.
    this.handoffs.delete(key);
    const now = this.now();
    if (!handoff || handoff.appId !== appId || handoff.expiresAt <= now) return undefined;
    const session = await this.components.sessions.lookup(handoff.sessionId);
    if (!session || session.user_id !== handoff.userId) return undefined;
    if (!(await this.components.access.mayOpen({ id: session.user_id, role: session.role }, appId))) {
      return undefined;
    }
    const cookieValue = randomBytes(32).toString('base64url');
    const expiresAt = Date.parse(session.expires_at);
    await this.components.db
      .insertInto('app_sessions')
      .values({
        id: sha256Hex(cookieValue),
        session_id: session.id,
        user_id: session.user_id,
        app_id: appId,
        created_at: new Date(now).toISOString(),
        expires_at: new Date(expiresAt).toISOString(),
      })
      .execute();
    return { cookieValue, maxAgeSeconds: Math.max(1, Math.floor((expiresAt - now) / 1000)) };
  }

  async visitor(appId: string, cookieValue: string): Promise<AppVisitor | undefined> {
    if (cookieValue.length === 0 || cookieValue.length > 100) return undefined;
    const id = sha256Hex(cookieValue);
    const now = this.now();
    const cached = this.cache.get(id);
    if (cached && cached.validUntil > now) {
      return cached.appId === appId ? { userId: cached.userId, userName: cached.userName } : undefined;
    }
    if (cached) this.cache.delete(id);
    const generation = this.generation;
    const row = await this.components.db
      .selectFrom('app_sessions')
      .innerJoin('sessions', 'sessions.id', 'app_sessions.session_id')
      .innerJoin('users', 'users.id', 'app_sessions.user_id')
      .select([
        'app_sessions.app_id',
        'app_sessions.expires_at',
        'sessions.id as session_id',
        'sessions.last_seen_at',
        'sessions.expires_at as session_expires_at',
        'users.id as user_id',
        'users.name',
        'users.role',
      ])
      .where('app_sessions.id', '=', id)
      .executeTakeFirst();
    if (!row || row.app_id !== appId || Date.parse(row.expires_at) <= now) return undefined;
    const sessions = this.components.sessions;
    if (!sessions.alive({ last_seen_at: row.last_seen_at, expires_at: row.session_expires_at }))
      return undefined;
    if (!(await this.components.access.mayOpen({ id: row.user_id, role: row.role }, appId))) return undefined;
    // Using an app is using the instance: it keeps the console session from idling out.
    await sessions.touch({ id: row.session_id, last_seen_at: row.last_seen_at });
    if (generation === this.generation) {
      const validUntil = Math.min(
        now + this.cacheTtlMs,
        Date.parse(row.expires_at),
        Date.parse(row.session_expires_at),
        Math.max(Date.parse(row.last_seen_at), now) + sessions.idleMs,
      );
      this.cache.set(id, {
        appId,
        userId: row.user_id,
        userName: row.name,
        sessionId: row.session_id,
        validUntil,
      });
    }
    return { userId: row.user_id, userName: row.name };
  }

  /** Handoffs waiting and visitors cached (for metrics and tests). */
  get sizes(): { handoffs: number; cached: number } {
    return { handoffs: this.handoffs.size, cached: this.cache.size };
  }

  private invalidate(match: (v: CachedVisitor) => boolean): void {
    this.generation++;
    this.cache.deleteWhere(match);
  }
}
