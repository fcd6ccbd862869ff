import type { Kysely } from 'kysely';
import { newId, nowIso } from '../../core/db/database.js';
import type { Logger } from '../../core/log.js';
import type { Database } from '../db/schema.js';

/** One mutating action: who did what to which target, from where. */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  address: string;
  /** Never a secret: token secrets, passwords and keys stay out. */
  detail?: Record<string, unknown>;
}

/**
 * The audit log is a table (so `warren audit`/the console can page through
 * it) and a log line (so it survives a lost database in the log pipeline).
 */
export class AuditLog {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
  ) {}

  /** Writes the entry; pass `db` (a transaction) to make it part of the change it records. */
  async record(entry: AuditEntry, db: Kysely<Database> = this.db): Promise<void> {
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
}
