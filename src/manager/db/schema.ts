import type { AuditLogTable } from '../../core/db/audit-log.js';
/**
 * The manager's tables, as Kysely sees them. The same schema runs on SQLite
 * and PostgreSQL, so it keeps to what both store alike: text ids made by the
 * application (no autoincrement dialects), timestamps as ISO-8601 UTC text
 * (they sort as text), JSON documents as text.
 */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  tokens: TokensTable;
  clusters: ClustersTable;
  components: ComponentsTable;
  certificates: CertificatesTable;
  jobs: JobsTable;
  blocklist: BlocklistTable;
  audit_log: AuditLogTable;
}

export type UserRole = 'root' | 'guest';

export interface UsersTable {
  id: string;
  name: string;
  role: UserRole;
  /** argon2id PHC string. */
  password_hash: string;
  created_at: string;
  password_changed_at: string;
  /** 1 while the password is a one-time one: the user's session may only change it (or log out). */
  must_change_password: number;
}

export interface SessionsTable {
  /** SHA-256 (hex) of the opaque session token: the token itself is never stored. */
  token_hash: string;
  user_id: string;
  address: string;
  created_at: string;
  expires_at: string;
  last_used_at: string;
}

/** Personal access tokens and enrolment (join) tokens. */
export interface TokensTable {
  id: string;
  user_id: string;
  name: string;
  /** Space-separated scopes: job, cluster, read — or enroll alone. */
  scopes: string;
  /** SHA-256 (hex) of the secret. Tokens are 256-bit random, so a fast hash suffices. */
  secret_hash: string;
  /** The secret before the last rotate, valid until previous_valid_until. */
  previous_hash: string | null;
  previous_valid_until: string | null;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface ClustersTable {
  id: string;
  name: string;
  description: string;
  /** JSON: { scheduler: {...limits}, seed: {...limits, gc} } handed to components on sync. */
  config: string;
  /** JSON locality rules: { cidrs: [], hostnames: [regex], idcs: [], locations: [] }. */
  scopes: string;
  is_default: number;
  created_at: string;
  updated_at: string;
}

export type ComponentRole = 'scheduler' | 'seed';

/** Schedulers and seed peers that registered by keepalive. */
export interface ComponentsTable {
  /** The component's certificate name (CN). */
  id: string;
  role: ComponentRole;
  cluster_id: string;
  hostname: string;
  ip: string;
  port: number;
  idc: string;
  location: string;
  registered_at: string;
  last_seen_at: string;
}

export interface CertificatesTable {
  /** Lower-case hex serial number. */
  serial: string;
  name: string;
  role: string;
  /** JSON array of the DNS names / IPs in the certificate, kept for renewal. */
  hosts: string;
  issued_at: string;
  not_after: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

export type JobType = 'preheat' | 'find_task' | 'delete_task';
export type JobState = 'pending' | 'running' | 'succeeded' | 'failed';

export interface JobsTable {
  id: string;
  type: JobType;
  state: JobState;
  cluster_id: string;
  /** JSON arguments as created. */
  args: string;
  /** JSON per-peer results. */
  result: string;
  progress: number;
  error: string | null;
  created_by: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The manager running it (`<instance>#<start>`); null while pending. */
  runner_id: string | null;
  /** Refreshed by the runner while it runs the job; a stale one means that manager died. */
  heartbeat_at: string | null;
}

export interface BlocklistTable {
  /** The blocked host id (certificate name) or IP address. */
  host: string;
  reason: string;
  created_by: string;
  created_at: string;
}
