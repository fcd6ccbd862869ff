import { join } from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { type ClusterView, ManagerSync } from '../core/manager-sync.js';
import type { TlsMaterial } from '../core/tls.js';
import type { TrustState } from '../core/trust.js';
import { parseDuration } from '../core/units.js';
import type { Host } from '../protocol/gen/scheduler_pb.js';
import { createManagerClient } from '../protocol/manager-client.js';
import type { PeerConfig } from './config.js';
import type { SchedulerPool } from './download/scheduler-link.js';
import type { GcPolicy } from './gc/gc-plan.js';

/** How long start() waits for the manager's first answer when there is no cached one. */
const FIRST_ANSWER_WAIT_MS = 5_000;

export interface ManagerLink {
  readonly current: ClusterView | undefined;
  stop(): Promise<void>;
}

/**
 * A peer's (or seed peer's) Sync with the manager: the answer gives the
 * cluster's schedulers (the pool hashes tasks over them and keeps a host
 * stream to each), the revocation list and blocklist (into `trust`), and the
 * cluster's GC policy. The last answer is kept in `<data>/manager-cache.json`
 * and used at start while the manager cannot be reached.
 */
export async function startManagerLink(o: {
  config: PeerConfig;
  host: Host;
  /** The current certificate (it may be renewed while we run). */
  tls: () => TlsMaterial;
  trust: TrustState | undefined;
  schedulers: SchedulerPool;
  gc: (policy: Partial<GcPolicy>) => void;
  log: Logger;
}): Promise<ManagerLink> {
  const { config, host, log } = o;
  const sync = new ManagerSync({
    connect: () => createManagerClient({ address: config.manager.address, tls: o.tls() }),
    request: () => ({
      cluster: config.manager.cluster,
      hostname: host.hostname,
      ip: host.ip,
      port: host.uploadPort,
      idc: host.idc,
      location: host.location,
    }),
    cacheFile: join(config.data, 'manager-cache.json'),
    trust: o.trust,
    log,
  });
  sync.on('update', (view) => {
    if (view.schedulers.length > 0) o.schedulers.set(view.schedulers);
    else if (o.schedulers.size > 0) {
      log.warn(
        { cluster: view.clusterName },
        'the manager lists no active scheduler; keeping the last known ones',
      );
    }
    try {
      o.gc(gcPolicyOf(view.config));
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'ignoring the cluster GC policy');
    }
  });
  await sync.start(FIRST_ANSWER_WAIT_MS);
  if (!sync.current)
    log.warn(
      { manager: config.manager.address },
      'no answer from the manager yet; going on without schedulers',
    );
  return sync;
}

/** The keys of `peer.gc` in a cluster configuration that this peer applies. */
export function gcPolicyOf(config: Record<string, unknown>): Partial<GcPolicy> {
  const gc = (config.peer as { gc?: Record<string, unknown> } | undefined)?.gc ?? {};
  const policy: Partial<GcPolicy> = {};
  if (typeof gc.ttl === 'string') policy.taskTtl = parseDuration(gc.ttl, 'peer.gc.ttl');
  const fraction = (v: unknown) => (typeof v === 'number' && v >= 0 && v <= 1 ? v : undefined);
  const high = fraction(gc.highWatermark);
  const low = fraction(gc.lowWatermark);
  if (high !== undefined) policy.highWatermark = high;
  if (low !== undefined) policy.lowWatermark = low;
  return policy;
}
