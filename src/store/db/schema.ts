import type { AuditLogTable } from '../../core/db/audit-log.js';
/**
 * The store's tables, as Kysely sees them. Like the manager's, the same
 * schema runs on SQLite and PostgreSQL: text ids made by the application,
 * timestamps as ISO-8601 UTC text, JSON as text, flags as 0/1 integers.
 */
export interface StoreDatabase {
  maintainers: MaintainersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  invitations: InvitationsTable;
  apps: AppsTable;
  releases: ReleasesTable;
  index_state: IndexStateTable;
  audit_log: AuditLogTable;
}

export interface MaintainersTable {
  id: string;
  name: string;
  /** argon2id PHC string. */
  password_hash: string;
  /** Raw Ed25519 public key, base64; null until the account has one (the admin may have none). */
  public_key: string | null;
  /** 1: a store admin (invites, marks official, yanks anything, reads the audit log). */
  is_admin: number;
  /** 1: one of the store's own maintainers; their apps are shown as official. */
  official: number;
  /** Release bytes stored for this maintainer (the quota counts them). */
  used_bytes: number | string;
  created_at: string;
}

export interface SessionsTable {
  /** SHA-256 of the session secret (the cookie value). */
  token_hash: string;
  maintainer_id: string;
  address: string;
  created_at: string;
  expires_at: string;
}

export interface ApiTokensTable {
  id: string;
  maintainer_id: string;
  name: string;
  secret_hash: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface InvitationsTable {
  /** SHA-256 of the invitation code. */
  code_hash: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  used_by: string | null;
}

export interface AppsTable {
  /** The app id from app.yml. */
  id: string;
  maintainer_id: string;
  /** The maintainer key the app id is bound to (raw, base64): later versions must be signed by it. */
  maintainer_key: string;
  /** Name and description of the newest version published. */
  name: string;
  description: string;
  created_at: string;
  updated_at: string;
}

export interface ReleasesTable {
  app_id: string;
  version: string;
  sha256: string;
  size: number;
  /** The detached signature file's text (JSON). */
  signature: string;
  published_by: string;
  published_at: string;
  yanked_at: string | null;
  yanked_by: string | null;
}

/** One row (id 1): the serial of the last signed index and a counter bumped by every change. */
export interface IndexStateTable {
  id: number;
  serial: number | string;
  generation: number | string;
}
