import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import type { TrustState } from './trust.js';

/** What a component says about itself on every Sync (its name and role come from its certificate). */
export interface SyncRequestFields {
  cluster: string;
  hostname: string;
  ip: string;
  port: number;
  idc: string;
  location: string;
}

/** The fields of the manager's SyncResponse a component uses. */
export interface SyncAnswerFields {
  clusterId: string;
  clusterName: string;
  clusterConfigJson: string;
  schedulers: Array<{ id: string; address: string }>;
  revokedSerials: string[];
  blockedHosts: string[];
  keepaliveIntervalMs: number;
  caPem: string;
}

/**
 * The manager's RPC as this loop needs it; the ManagerService client of
 * src/protocol/manager-client.ts fits (core does not import protocol).
 */
export interface ManagerSyncClient {
  sync(
    request: SyncRequestFields,
    options?: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<SyncAnswerFields>;
  close(): void;
}

/** The last good answer, as kept in memory and on disk. */
export interface ClusterView {
  clusterId: string;
  clusterName: string;
  /** The cluster's configuration; a component applies the keys it knows. */
  config: Record<string, unknown>;
  schedulers: Array<{ id: string; address: string }>;
  revokedSerials: string[];
  blockedHosts: string[];
  keepaliveIntervalMs: number;
  caPem: string;
  /** When the manager gave it (ISO). */
  receivedAt: string;
}

export interface ManagerSyncOptions {
  /** Makes a client; called again after a failure (the certificate may have been renewed since). */
  connect: () => ManagerSyncClient;
  /** What to tell the manager; read before every call. */
  request: () => SyncRequestFields;
  /** Where the last good answer is kept (mode 0600). */
  cacheFile: string;
  /** Fed with the revocation list and blocklist of every answer. */
  trust?: TrustState;
  log: Logger;
  /** Deadline of one call; default 10 s. */
  callTimeoutMs?: number;
  random?: () => number;
}

/** Bounds on the interval the manager asks for, whatever it says. */
const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 5 * 60_000;
/** Back-off after failures: from 500 ms doubling to 30 s, with jitter. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
/** Largest cache file read back. */
const MAX_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * A scheduler's, seed peer's or peer's link to the manager: Sync on the
 * interval the manager gives (±10 % jitter, so a fleet restarted together
 * spreads out), jittered exponential back-off while it is unreachable. Every
 * answer updates the trust lists and is kept on disk; at start the file is
 * read back, so a component restarted while the manager is away still knows
 * its schedulers, the revoked certificates and the blocklist (threat 3).
 */
export class ManagerSync extends EventEmitter<{ update: [ClusterView] }> {
  private view: ClusterView | undefined;
  private savedJson = '';
  private readonly abort = new AbortController();
  private client: ManagerSyncClient | undefined;
  private loop: Promise<void> | undefined;
  private readonly random: () => number;

  constructor(private readonly o: ManagerSyncOptions) {
    super();
    this.random = o.random ?? Math.random;
  }

  /** The last good answer (from the manager, or from the cache file before the first one). */
  get current(): ClusterView | undefined {
    return this.view;
  }

  /**
   * Loads the cache file, starts the loop, and resolves after the first
   * answer or `waitMs`, whichever comes first (the loop goes on either way).
   */
  async start(waitMs = 0): Promise<void> {
    const cached = this.readCache();
    if (cached) {
      this.o.log.info(
        { cluster: cached.clusterName, schedulers: cached.schedulers.length },
        'manager answer loaded from the cache file',
      );
      this.apply(cached);
    }
    // With an answer from the file there is nothing to wait for: the loop refreshes it.
    const wait = cached ? 0 : waitMs;
    const first = new Promise<void>((resolve) => {
      this.once('update', () => resolve());
      if (wait > 0) setTimeout(resolve, wait).unref();
      else resolve();
    });
    this.loop = this.run();
    await first;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.client?.close();
    this.client = undefined;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      let delay: number;
      try {
        this.client ??= this.o.connect();
        const answer = await this.client.sync(this.o.request(), {
          signal,
          timeoutMs: this.o.callTimeoutMs ?? 10_000,
        });
        if (failures > 0) this.o.log.info({ failures }, 'manager reachable again');
        failures = 0;
        const view = toView(answer);
        this.apply(view);
        this.save(view);
        const interval = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, view.keepaliveIntervalMs));
        delay = interval * (0.9 + 0.2 * this.random());
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        // A new connection next time: the old one may be dead, or our certificate renewed.
        this.client?.close();
        this.client = undefined;
        const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 16));
        delay = ceiling * (0.5 + 0.5 * this.random());
        const log = failures === 1 || failures % 10 === 0 ? this.o.log.warn : this.o.log.debug;
        log.call(
          this.o.log,
          { err: errorMessage(err), failures, retryInMs: Math.round(delay) },
          'manager sync failed; keeping the last good answer',
        );
      }
      await sleep(delay, undefined, { signal }).catch(() => undefined);
    }
  }

  private apply(view: ClusterView): void {
    this.view = view;
    this.o.trust?.update(view.revokedSerials, view.blockedHosts);
    this.emit('update', view);
  }

  /** Writes the answer (temp file + rename, 0600) when it differs from the one on disk. */
  private save(view: ClusterView): void {
    const { receivedAt: _at, ...content } = view;
    const json = JSON.stringify(content);
    if (json === this.savedJson) return;
    try {
      mkdirSync(dirname(this.o.cacheFile), { recursive: true, mode: 0o700 });
      const temp = `${this.o.cacheFile}.tmp`;
      writeFileSync(temp, JSON.stringify(view), { mode: 0o600 });
      renameSync(temp, this.o.cacheFile);
      this.savedJson = json;
    } catch (err) {
      this.o.log.warn(
        { err: errorMessage(err), file: this.o.cacheFile },
        'cannot keep the manager answer on disk',
      );
    }
  }

  private readCache(): ClusterView | undefined {
    let text: string;
    try {
      text = readFileSync(this.o.cacheFile, 'utf8');
    } catch {
      return undefined; // first start
    }
    try {
      if (text.length > MAX_CACHE_BYTES) throw new Error('file too large');
      const view = parseView(JSON.parse(text));
      const { receivedAt: _at, ...content } = view;
      this.savedJson = JSON.stringify(content);
      return view;
    } catch (err) {
      this.o.log.warn(
        { err: errorMessage(err), file: this.o.cacheFile },
        'ignoring an unreadable manager cache file',
      );
      return undefined;
    }
  }
}

function toView(answer: SyncAnswerFields): ClusterView {
  let config: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(answer.clusterConfigJson || '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      config = parsed as Record<string, unknown>;
  } catch {
    // a config we cannot read is no config
  }
  return {
    clusterId: answer.clusterId,
    clusterName: answer.clusterName,
    config,
    schedulers: answer.schedulers.map((s) => ({ id: s.id, address: s.address })),
    revokedSerials: [...answer.revokedSerials],
    blockedHosts: [...answer.blockedHosts],
    keepaliveIntervalMs: answer.keepaliveIntervalMs,
    caPem: answer.caPem,
    receivedAt: new Date().toISOString(),
  };
}

/** Checks the shape of a cache file written by {@link ManagerSync}. */
function parseView(value: unknown): ClusterView {
  const v = value as ClusterView;
  const strings = (list: unknown) => Array.isArray(list) && list.every((s) => typeof s === 'string');
  const ok =
    v !== null &&
    typeof v === 'object' &&
    typeof v.clusterId === 'string' &&
    typeof v.clusterName === 'string' &&
    typeof v.config === 'object' &&
    v.config !== null &&
    Array.isArray(v.schedulers) &&
    v.schedulers.every((s) => typeof s?.id === 'string' && typeof s?.address === 'string') &&
    strings(v.revokedSerials) &&
    strings(v.blockedHosts) &&
    typeof v.keepaliveIntervalMs === 'number' &&
    typeof v.caPem === 'string';
  if (!ok) throw new Error('not a manager answer');
  return v;
}
