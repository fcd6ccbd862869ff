import type { Kysely } from 'kysely';
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
}
