import { type Static, Type } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { afterCursor, decodeCursor, Page, PageQuery, toPage } from '../http/pagination.js';
import type { Logger } from '../log.js';
import { newId, nowIso } from './database.js';

/** The `audit_log` table both REST roles have (their migrations create it). */
export interface AuditLogTable {
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string;
  address: string;
  /** JSON detail, never a secret. */
  detail: string;
}

/** Any role database with an audit log. */
export interface AuditDatabase {
  audit_log: AuditLogTable;
}

/** An entry as `GET /api/v1/audit` shows it. */
export const AuditEntryJson = Type.Object({
  id: Type.String(),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  address: Type.String(),
  detail: Type.Object({}, { additionalProperties: true }),
});
export const AuditPage = Page(AuditEntryJson);

/** `GET /api/v1/audit` query: a page, optionally one actor or one action. */
export const AuditQuery = (actionExample: string) =>
  Type.Object({
    ...PageQuery.properties,
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    action: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: `e.g. '${actionExample}'` }),
    ),
  });
export type AuditQuery = Static<ReturnType<typeof AuditQuery>>;

/** One action: who did what to which target, from where. */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  address: string;
  /** Never a secret: passwords, token secrets, keys and invitation codes stay out. */
  detail?: Record<string, unknown>;
}

/**
 * A role's audit log (the manager's mutating actions; the store's logins,
 * registrations, uploads accepted and refused, yanks, rotations): a table,
 * so `GET /api/v1/audit` can page through it, and a log line, so it survives
 * a lost database in the log pipeline.
 */
export class AuditLog<DB extends AuditDatabase> {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly log: Logger,
  ) {}

  /** Writes the entry; pass `db` (a transaction) to make it part of the change it records. */
  async record(entry: AuditEntry, db: Kysely<DB> = this.db): Promise<void> {
    const row = {
      id: newId('aud'),
      at: nowIso(),
      actor: entry.actor,
      action: entry.action,
      target: entry.target,
      address: entry.address,
      detail: JSON.stringify(entry.detail ?? {}),
    };
    this.log.info({ audit: { ...row, detail: entry.detail ?? {} } }, `audit: ${entry.action}`);
    // Kysely is invariant in its schema: every DB here has this table (the type bound says so).
    await (db as unknown as Kysely<AuditDatabase>).insertInto('audit_log').values(row).execute();
  }

  /** Like {@link record}, but a failure to write is logged, never thrown (for refusals already being answered). */
  async recordQuietly(entry: AuditEntry): Promise<void> {
    await this.record(entry).catch((err: unknown) => {
      this.log.warn({ err: String(err), action: entry.action }, 'could not write an audit entry');
    });
  }

  /** Entries newest first, one keyset page. */
  async list(query: AuditQuery): Promise<Static<typeof AuditPage>> {
    const { actor, action, limit, cursor } = query;
    const after = decodeCursor(cursor);
    let select = (this.db as unknown as Kysely<AuditDatabase>).selectFrom('audit_log').selectAll();
    if (actor) select = select.where('actor', '=', actor);
    if (action) select = select.where('action', '=', action);
    if (after) select = select.where(afterCursor('at', 'id', '<', after));
    const rows = await select
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.at, r.id],
      (r) => ({ ...r, detail: parseDetail(r.detail) }),
    );
  }
}

function parseDetail(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
