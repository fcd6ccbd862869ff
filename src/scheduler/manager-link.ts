import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import { ManagerSync } from '../core/manager-sync.js';
import type { TlsMaterial } from '../core/tls.js';
import type { TrustState } from '../core/trust.js';
import { createManagerClient } from '../protocol/manager-client.js';
import type { SchedulerConfig } from './config.js';
import type { Coordinator } from './coordinator.js';

/**
 * The scheduler's Sync with the manager: it registers (and keeps alive) this
 * scheduler under its certificate name with the address peers dial, feeds
 * `trust` with the revocation list and blocklist, and applies the cluster's
 * parent limits. The last answer is kept in `<tlsDir>/manager-cache.json`
 * for starts while the manager is unreachable.
 */
export async function startSchedulerManagerLink(o: {
  config: SchedulerConfig;
  /** host:port the RPC server is bound to. */
  listen: { host: string; port: number };
  tls: () => TlsMaterial;
  trust: TrustState | undefined;
  coordinator: Coordinator;
  log: Logger;
}): Promise<ManagerSync> {
  const { config, listen } = o;
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  const sync = new ManagerSync({
    connect: () => createManagerClient({ address: config.manager.address, tls: o.tls() }),
    request: () => ({
      cluster: config.manager.cluster,
      hostname: hostname(),
      // '' lets the manager use the address this call comes from.
      ip: config.advertiseIp || (wildcard ? '' : listen.host),
      port: listen.port,
      idc: '',
      location: '',
    }),
    cacheFile: join(config.tlsDir, 'manager-cache.json'),
    trust: o.trust,
    log: o.log,
  });
  sync.on('update', (view) => {
    const limits = (view.config.scheduler ?? {}) as Record<string, unknown>;
    const positive = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);
    o.coordinator.setParentLimits({
      candidateParentLimit: positive(limits.candidateParentLimit),
      filterParentLimit: positive(limits.filterParentLimit),
    });
  });
  await sync.start();
  return sync;
}
