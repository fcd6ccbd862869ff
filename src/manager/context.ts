import type { Kysely } from 'kysely';
import type { Logger } from '../core/log.js';
import type { TlsMaterial } from '../core/tls.js';
import type { AuditLog } from './audit/audit-log.js';
import type { AuthService } from './auth/auth-service.js';
import type { CertificateAuthority } from './ca/authority.js';
import type { ManagerSettings } from './config.js';
import type { ManagerDatabase } from './db/database.js';
import type { Database } from './db/schema.js';

/**
 * The manager's services, built once by manager.ts and handed to every route
 * module and RPC handler. Services depend on this, never on each other's
 * construction order.
 */
export interface ManagerContext {
  settings: ManagerSettings;
  log: Logger;
  database: ManagerDatabase;
  db: Kysely<Database>;
  audit: AuditLog;
  ca: CertificateAuthority;
  auth: AuthService;
  /** The manager's own certificate (role manager): RPC server, and client of schedulers. */
  tls: TlsMaterial;
}
