import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from '../../core/log.js';
import { formatHostPort } from '../../core/net.js';
import type { TlsMaterial } from '../../core/tls.js';
import type { ClusterState } from '../clusters/state.js';
import type { ManagerSettings } from '../config.js';
import type { Database } from '../db/schema.js';
import { ClusterLimiter } from './cluster-limiter.js';
import { JobRunner } from './job-runner.js';
import { JobStore } from './job-store.js';

export interface JobsInit {
  db: Kysely<Database>;
  settings: Pick<ManagerSettings, 'data' | 'rateLimit' | 'jobConcurrency' | 'jobTimeoutMs' | 'jobQueueLimit'>;
  log: Logger;
  tls: TlsMaterial;
  /** Active schedulers of a cluster, `address` as host:port (from the cluster registry). */
  schedulers(clusterId: string): Array<{ id: string; address: string }>;
}

/** The job queue (store), its runner, and the per-cluster creation limit: what routes/jobs.ts uses. */
export class Jobs {
  readonly store: JobStore;
  readonly runner: JobRunner;
  readonly limiter: ClusterLimiter;
  readonly queueLimit: number;

  constructor(init: JobsInit) {
    this.store = new JobStore(init.db);
    this.limiter = new ClusterLimiter(init.settings.rateLimit.jobsPerCluster);
    this.queueLimit = init.settings.jobQueueLimit;
    this.runner = new JobRunner({
      store: this.store,
      log: init.log.child({ part: 'jobs' }),
      tls: init.tls,
      concurrency: init.settings.jobConcurrency,
      timeoutMs: init.settings.jobTimeoutMs,
      instance: managerInstance(init.settings.data),
      schedulers: init.schedulers,
    });
  }
}

/**
 * Names this manager replica across restarts (host name and data folder), so
 * that at start it can fail the jobs its previous run left running without
 * touching those of other replicas sharing the database.
 */
export function managerInstance(dataDir: string): string {
  return createHash('sha256')
    .update(hostname())
    .update('\n')
    .update(resolve(dataDir))
    .digest('hex')
    .slice(0, 16);
}

/** The cluster's schedulers that sent a keepalive recently, as RPC addresses. */
export function activeSchedulers(
  clusters: ClusterState,
  clusterId: string,
): Array<{ id: string; address: string }> {
  return clusters
    .components(clusterId)
    .filter((c) => c.role === 'scheduler' && c.state === 'active' && c.ip !== '' && c.port > 0)
    .map((c) => ({ id: c.id, address: formatHostPort(c.ip, c.port) }));
}
