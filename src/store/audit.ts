import type { Kysely } from 'kysely';
import { newId, nowIso } from '../core/db/database.js';
import type { Logger } from '../core/log.js';
import type { StoreDatabase } from './db/schema.js';

/** One action: who did what to which target, from where. */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  address: string;
  /** Never a secret: passwords, token secrets and invitation codes stay out. */
  detail?: Record<string, unknown>;
}

/**
 * The store's audit log: logins, registrations, uploads (accepted and
 * refused, with the reason), yanks, key rotations, invitations. A table (for
 * `GET /api/v1/audit`) and a log line.
 */
export class AuditLog {
  constructor(
    private readonly db: Kysely<StoreDatabase>,
    private readonly log: Logger,
  ) {}

  /** Writes the entry; pass `db` (a transaction) to make it part of the change it records. */
  async record(entry: AuditEntry, db: Kysely<StoreDatabase> = this.db): Promise<void> {
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
    await db.insertInto('audit_log').values(row).execute();
  }

  /** Like {@link record}, but a failure to write is logged, never thrown (for refusals already being answered). */
  async recordQuietly(entry: AuditEntry): Promise<void> {
    await this.record(entry).catch((err: unknown) => {
      this.log.warn({ err: String(err), action: entry.action }, 'could not write an audit entry');
    });
  }
}
