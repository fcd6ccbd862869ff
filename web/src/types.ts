/* The shapes of the cloud's REST API (/api/v1) the console reads. */

export type Role = 'admin' | 'user';

export interface User {
  id: string;
  name: string;
  role: Role;
  must_change_password: boolean;
  totp: boolean;
}

export interface Me {
  user: User;
  csrf_token: string;
}

export type AppState = 'fetching' | 'loading' | 'creating' | 'running' | 'stopped' | 'failed' | 'removing';

export interface InstalledApp {
  id: string;
  name: string;
  version: string;
  state: AppState | string;
  state_detail: string;
  url: string;
  official: boolean;
  access_mode: 'all' | 'chosen';
}

export interface StoreVersion {
  version: string;
  sha256: string;
  yanked: boolean;
}

export interface StoreApp {
  id: string;
  official: boolean;
  maintainer_key_id: string;
  versions: StoreVersion[];
  installed_version: string | null;
}

export interface StoreIndex {
  serial: number;
  expires_at: string;
  apps: StoreApp[];
}

export interface ReleaseDetails {
  manifest: { id: string; name: string; version: string; description: string; maintainer: string };
  official: boolean;
  permissions: {
    services: Array<{ name: string; image: string }>;
    volumes: unknown[];
    main_service: string;
    port: number;
    resources: unknown;
  };
}

export interface UserRow {
  id: string;
  name: string;
  role: Role;
  totp: boolean;
  created_at: string;
}

export interface Invitation {
  code: string;
  url: string;
  expires_at: string;
}

export interface AppAccess {
  mode: 'all' | 'chosen';
  users: Array<{ id: string; name: string }>;
}

export interface Certificate {
  source: 'self-signed' | 'uploaded' | 'acme';
  names: string[];
  not_before: string;
  not_after: string;
  days_left: number;
  fingerprint_sha256: string;
  warning: string | null;
}

export interface AcmeOrder {
  order_id: string;
  txt_records: Array<{ name: string; value: string }>;
}

export interface SessionRow {
  id_prefix: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  address: string;
  user_agent: string;
  current: boolean;
}

export interface Settings {
  domain: string;
  console_url: string;
  docker: { available: boolean; message: string };
  caps: unknown;
}

/** States in which an app is between steps (poll until they end). */
export const BUSY_STATES = new Set(['fetching', 'loading', 'creating', 'removing']);

/** GET /api/v1/apps/:id answers `{app}` (like start/stop); a bare app is accepted too. */
export function appOf(body: { app: InstalledApp } | InstalledApp): InstalledApp {
  return 'app' in body && typeof body.app === 'object' && body.app !== null
    ? body.app
    : (body as InstalledApp);
}
