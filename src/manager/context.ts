import type { Kysely } from 'kysely';
import type { AuditLog } from '../core/db/audit-log.js';
import type { Logger } from '../core/log.js';
import type { RegistryAccess } from '../core/oci/registry-access.js';
import type { TlsMaterial } from '../core/tls.js';
import type { AuthService } from './auth/auth-service.js';
import type { CertificateAuthority } from './ca/authority.js';
import type { ClusterState } from './clusters/state.js';
import type { ManagerSettings } from './config.js';
import type { ManagerDatabase } from './db/database.js';
import type { Database } from './db/schema.js';
import type { Jobs } from './jobs/jobs.js';

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
  audit: AuditLog<Database>;
  ca: CertificateAuthority;
  auth: AuthService;
  /** The manager's own certificate (role manager): RPC server, and client of schedulers. */
  tls: TlsMaterial;
  /** In-memory copy of clusters, registry, revocations and blocklist; answers Sync (clusters/state.ts). */
  clusters: ClusterState;
  /** The job queue, its runner and the per-cluster creation limit (jobs/jobs.ts). */
  jobs: Jobs;
  /** The configured OCI registries, for image preheat (jobs/image-preheat.ts). */
  registries: RegistryAccess;
}
