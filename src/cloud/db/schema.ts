import type { AuditLogTable } from '../../core/db/audit-log.js';

/**
 * The cloud instance's tables, as Kysely sees them. Like the manager's and
 * the store's, the same schema runs on SQLite and PostgreSQL: text ids made
 * by the application, timestamps as ISO-8601 UTC text, JSON as text, flags
 * as 0/1 integers.
 */
export interface CloudDatabase {
  users: UsersTable;
  sessions: SessionsTable;
  invitations: InvitationsTable;
  app_sessions: AppSessionsTable;
  app_access: AppAccessTable;
  apps: AppsTable;
  store_state: StoreStateTable;
  audit_log: AuditLogTable;
}

export interface UsersTable {
  id: string;
  /** Login name, `^[a-z0-9][a-z0-9._-]{0,62}$`, unique. */
  name: string;
  /** argon2id PHC string. */
  password_hash: string;
  role: 'admin' | 'user';
  /** Base32 TOTP secret once the second factor is confirmed; null without one. */
  totp_secret: string | null;
  /** A TOTP secret being set up (shown once, confirmed with a code); null otherwise. */
  totp_pending: string | null;
  /** Last TOTP time step accepted (a code is never accepted twice); 0 before any. */
  totp_last_step: number;
  /** 1: the password was set by someone else (first admin, reset) and must be changed. */
  must_change_password: number;
  created_at: string;
}

export interface SessionsTable {
  /** SHA-256 (hex) of the session secret (the cookie value); the secret itself is never stored. */
  id: string;
  user_id: string;
  address: string;
  user_agent: string;
  created_at: string;
  /** Idle expiry: moves forward on use (written at most once a minute). */
  last_seen_at: string;
  /** Absolute expiry: never moves. */
  expires_at: string;
}

export interface InvitationsTable {
  id: string;
  /** SHA-256 (hex) of the one-time code. */
  code_hash: string;
  role: 'admin' | 'user';
  created_by: string;
  created_at: string;
  expires_at: string;
  /** Set when redeemed; a used invitation is never accepted again. */
  used_at: string | null;
}

/** An app subdomain's session, made by redeeming a handoff; dies with its console session. */
export interface AppSessionsTable {
  /** SHA-256 (hex) of the app cookie's value. */
  id: string;
  /** The console session it came from (cascade: signing out ends it). */
  session_id: string;
  user_id: string;
  app_id: string;
  created_at: string;
  expires_at: string;
}

/** Users granted an app when the app's access mode is 'chosen'. */
export interface AppAccessTable {
  app_id: string;
  user_id: string;
}

export type AppState =
  /** The release is being fetched through the peer and verified. */
  | 'fetching'
  /** Images are being pulled through the peer and loaded into Docker. */
  | 'loading'
  /** Networks, volumes and containers are being created. */
  | 'creating'
  | 'running'
  | 'stopped'
  /** An install or start step failed; state_detail says which and why. */
  | 'failed'
  | 'removing';

export interface AppsTable {
  /** The app id from app.yml (also its subdomain). */
  id: string;
  /** Display name from app.yml. */
  name: string;
  version: string;
  /** SHA-256 (hex) of the installed release zip. */
  sha256: string;
  /** The maintainer key the app was installed with (raw Ed25519, base64); an update may not change it. */
  maintainer_key: string;
  official: number;
  state: AppState;
  /** Human-readable detail of the state (the failing step and its error). */
  state_detail: string;
  /** 'all': every user may open it; 'chosen': only users in app_access (admins always may). */
  access_mode: 'all' | 'chosen';
  /** JSON: the validated app.yml (AppManifest). */
  manifest: string;
  /** The compose document as validated (YAML text). */
  compose_yaml: string;
  /** JSON: service name -> loaded image id (sha256:…), once loaded. */
  images: string;
  installed_at: string;
  updated_at: string;
}

/** The newest store index this instance accepted (rollback/freeze protection). One row, id 1. */
export interface StoreStateTable {
  id: number;
  serial: number;
  /** SHA-256 (hex) of the accepted index's signed payload. */
  digest: string;
  /** The accepted index envelope as fetched (JSON text), served to the console while fresh. */
  envelope: string;
  fetched_at: string;
}
