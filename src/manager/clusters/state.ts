import { isDatabaseDown } from '../../core/db/database.js';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { normalizeSerial } from '../../core/trust.js';
import type { ComponentRole } from '../db/schema.js';
import { type Cluster, type ClusterStore, type Component, MAX_COMPONENTS } from './cluster-store.js';
import { type HostLocality, matchCluster } from './locality.js';

/** Longest revocation list and blocklist held (TrustState on the components has the same bound). */
const MAX_LIST = 100_000;
/** How long a cluster's list of active schedulers is reused between Sync answers. */
const SCHEDULER_MEMO_MS = 1_000;
/** A registration silent this long (and written) is dropped from memory. */
const FORGET_AFTER_MS = 3_600_000;

export type ComponentState = 'active' | 'inactive';

/** A registry row with its liveness, as the API and Sync see it. */
export interface ComponentView extends Component {
  state: ComponentState;
}

/** What a Sync caller says about itself, with its role from the certificate. */
export interface Registration extends HostLocality {
  id: string;
  role: ComponentRole | 'peer';
  port: number;
  /** Cluster name asked for; '' = by locality. */
  cluster: string;
}

/** The answer to a Sync, all from memory. */
export interface SyncAnswer {
  cluster: Cluster;
  schedulers: Array<{ id: string; address: string }>;
  revokedSerials: string[];
  blockedHosts: string[];
}

interface Live {
  component: Component;
  lastSeenMs: number;
  /** When it was last written to the database; 0 = not yet. */
  writtenMs: number;
  /** Cluster, address or labels changed since the last write. */
  changed: boolean;
}

export interface ClusterStateOptions {
  store: ClusterStore;
  log: Logger;
  /** How often the copy is reloaded and registrations written. */
  refreshMs: number;
  /** A registration is written at most once per this interval (unless it changed). */
  keepaliveMs: number;
  inactiveAfterMs: number;
  /** Revoked serials that have not expired (the CA's list). */
  revokedSerials: () => Promise<string[]>;
  now?: () => number;
}

/**
 * The manager's in-memory copy of clusters, registry, revocation list and
 * blocklist (threat 3: the plane keeps working while the database is down).
 * Sync answers come from here only; registrations are kept here and written
 * to the database in batches, at most once per keepalive per component, and
 * kept until the database takes them — an outage loses none. The copy is
 * reloaded every `refreshMs` (so changes made through another manager replica
 * arrive), and the last good copy stays when a reload fails.
 */
export class ClusterState {
  private clusters: Cluster[] = [];
  private stored = new Map<string, Component>();
  private readonly live = new Map<string, Live>();
  private readonly schedulerMemo = new Map<string, { at: number; list: SyncAnswer['schedulers'] }>();
  private revoked: string[] = [];
  private revokedSet = new Set<string>();
  private blocked: string[] = [];
  private up = true;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly o: ClusterStateOptions) {
    this.now = o.now ?? Date.now;
  }

  /** False while the last database access failed for an outage. */
  get databaseUp(): boolean {
    return this.up;
  }

  /** Loads the first copy (the database was reachable a moment ago) and starts the refresh loop. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.tick(), this.o.refreshMs);
    this.timer.unref();
  }

  /** Stops the loop and writes what is still buffered, if the database takes it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.flush();
  }

  /** Writes buffered registrations, then reloads; never overlaps itself, never throws. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      await this.flush();
      await this.reload();
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /** Reloads everything from the database; keeps the last good copy on failure. */
  async reload(): Promise<void> {
    try {
      const [clusters, components, revoked, blocked] = await Promise.all([
        this.o.store.all(),
        this.o.store.components(),
        this.o.revokedSerials(),
        this.o.store.blockedHosts(MAX_LIST),
      ]);
      this.clusters = clusters;
      this.stored = new Map(components.map((c) => [c.id, c]));
      this.schedulerMemo.clear();
      this.revoked = revoked.slice(0, MAX_LIST);
      this.revokedSet = new Set(this.revoked.map(normalizeSerial));
      this.blocked = blocked;
      this.markUp();
    } catch (err) {
      this.failed(err, 'cache reload');
    }
  }

  /** Notes an outage seen by a request, so that the next reads go to the copy at once. */
  markDown(): void {
    if (this.up) this.o.log.warn('database unavailable: serving clusters from the in-memory copy');
    this.up = false;
  }

  // ---- reads served from memory -------------------------------------------------------------

  allClusters(): Cluster[] {
    return this.clusters;
  }

  cluster(id: string): Cluster | undefined {
    return this.clusters.find((c) => c.id === id);
  }

  /**
   * Schedulers and seed peers (of one cluster, or all), merging the stored
   * rows (`rows`, default the cached ones) with registrations not yet written.
   */
  components(clusterId?: string, rows?: readonly Component[]): ComponentView[] {
    const merged = new Map<string, Component>();
    for (const c of rows ?? this.stored.values()) merged.set(c.id, c);
    for (const { component } of this.live.values()) {
      const known = merged.get(component.id);
      if (!known || known.lastSeenAt <= component.lastSeenAt) merged.set(component.id, component);
    }
    const cutoff = new Date(this.now() - this.o.inactiveAfterMs).toISOString();
    return [...merged.values()]
      .filter((c) => clusterId === undefined || c.clusterId === clusterId)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((c) => ({ ...c, state: c.lastSeenAt >= cutoff ? 'active' : 'inactive' }));
  }

  /** True when the serial (any form) is on the last loaded revocation list. */
  isRevoked(serial: string): boolean {
    return this.revokedSet.has(normalizeSerial(serial));
  }

  hasActiveComponents(clusterId: string): boolean {
    return this.components(clusterId).some((c) => c.state === 'active');
  }

  // ---- Sync ---------------------------------------------------------------------------------

  /**
   * Records a caller's keepalive (schedulers and seed peers; peers are not
   * kept, there may be thousands) and answers it from memory.
   */
  sync(caller: Registration): SyncAnswer {
    const cluster =
      (caller.cluster !== '' ? this.clusters.find((c) => c.name === caller.cluster) : undefined) ??
      matchCluster(this.clusters, caller);
    if (!cluster)
      throw new WarrenError('NO_CLUSTER', 'no cluster is loaded yet (not even the default one)', 503);
    if (caller.role !== 'peer') this.register(caller, caller.role, cluster.id);
    return {
      cluster,
      schedulers: this.activeSchedulers(cluster.id),
      revokedSerials: this.revoked,
      blockedHosts: this.blocked,
    };
  }

  /**
   * The cluster's active schedulers as host:port, memoised for a moment:
   * thousands of peers sync, and the list changes only when a scheduler
   * comes, goes or falls silent.
   */
  private activeSchedulers(clusterId: string): SyncAnswer['schedulers'] {
    const nowMs = this.now();
    const memo = this.schedulerMemo.get(clusterId);
    if (memo && nowMs - memo.at < SCHEDULER_MEMO_MS) return memo.list;
    const list = this.components(clusterId)
      .filter((c) => c.role === 'scheduler' && c.state === 'active' && c.ip !== '' && c.port > 0)
      .map((c) => ({ id: c.id, address: c.ip.includes(':') ? `[${c.ip}]:${c.port}` : `${c.ip}:${c.port}` }));
    this.schedulerMemo.set(clusterId, { at: nowMs, list });
    return list;
  }

  private register(caller: Registration, role: ComponentRole, clusterId: string): void {
    const nowMs = this.now();
    const seen = new Date(nowMs).toISOString();
    const entry = this.live.get(caller.id);
    if (!entry && this.live.size >= MAX_COMPONENTS) {
      throw new WarrenError(
        'REGISTRY_FULL',
        `the registry holds at most ${MAX_COMPONENTS} schedulers and seed peers`,
        503,
      );
    }
    const component: Component = {
      id: caller.id,
      role,
      clusterId,
      hostname: caller.hostname,
      ip: caller.ip,
      port: caller.port,
      idc: caller.idc,
      location: caller.location,
      registeredAt: entry?.component.registeredAt ?? this.stored.get(caller.id)?.registeredAt ?? seen,
      lastSeenAt: seen,
    };
    const changed = !entry || entry.changed || !sameRegistration(entry.component, component);
    // A scheduler that is new, moved, or was silent must show in the next answers at once.
    if (role === 'scheduler' && (!entry || changed || entry.lastSeenMs < nowMs - this.o.inactiveAfterMs)) {
      this.schedulerMemo.clear();
    }
    this.live.set(caller.id, { component, lastSeenMs: nowMs, writtenMs: entry?.writtenMs ?? 0, changed });
  }

  /** Writes registrations that are new, changed, or last written a keepalive ago. */
  async flush(): Promise<void> {
    const nowMs = this.now();
    const clusters = new Set(this.clusters.map((c) => c.id));
    const due: Live[] = [];
    for (const [id, entry] of this.live) {
      // Its cluster was deleted (here or by another replica): the row could not be written,
      // and would hold up the others. Its next keepalive places it again.
      const orphan = clusters.size > 0 && !clusters.has(entry.component.clusterId);
      if (orphan || (entry.writtenMs >= entry.lastSeenMs && nowMs - entry.lastSeenMs > FORGET_AFTER_MS)) {
        this.live.delete(id);
        continue;
      }
      const stale = entry.writtenMs < entry.lastSeenMs && nowMs - entry.writtenMs >= this.o.keepaliveMs;
      if (entry.changed || stale) due.push(entry);
    }
    if (due.length === 0) return;
    try {
      await this.o.store.upsertComponents(due.map((e) => e.component));
      for (const entry of due) {
        entry.writtenMs = nowMs;
        entry.changed = false;
        this.stored.set(entry.component.id, entry.component);
      }
      this.markUp();
    } catch (err) {
      this.failed(err, 'registry write');
    }
  }

  private markUp(): void {
    if (!this.up) this.o.log.info('database reachable again');
    this.up = true;
  }

  private failed(err: unknown, what: string): void {
    if (isDatabaseDown(err)) {
      this.markDown();
      return;
    }
    this.o.log.error({ err: errorMessage(err) }, `${what} failed`);
  }
}

function sameRegistration(a: Component, b: Component): boolean {
  return (
    a.clusterId === b.clusterId &&
    a.role === b.role &&
    a.hostname === b.hostname &&
    a.ip === b.ip &&
    a.port === b.port &&
    a.idc === b.idc &&
    a.location === b.location
  );
}
