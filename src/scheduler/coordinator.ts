import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '../core/log.js';
import type { PeerIdentity } from '../core/tls.js';
import type { AnnouncePeerRequest, AnnouncePeerResponse, HostEvent } from '../protocol/gen/scheduler_pb.js';
import type { SchedulerSettings } from './config.js';
import { HostLinks, KeyedTimers, PeerLinks } from './links.js';
import { backToSourceMessage, manifestMessage, parentsMessage } from './messages.js';
import type { RefusalReason, SchedulerMetrics } from './metrics.js';
import type { Outbox } from './outbox.js';
import { admit } from './registration.js';
import { handleReport } from './reports.js';
import { clearParents, setParents } from './resource/graph.js';
import type { HostInfo } from './resource/host.js';
import type { Peer } from './resource/peer.js';
import { Resources } from './resource/resources.js';
import type { Task } from './resource/task.js';
import { type SchedulingOptions, selectParents } from './scheduling.js';

/** What the coordinator needs from the composition root. */
export interface CoordinatorInit {
  settings: SchedulerSettings;
  metrics: SchedulerMetrics;
  logger: Logger;
  /** Milliseconds clock; Date.now by default. */
  now?: () => number;
  random?: () => number;
  /** Hosts blocked through the manager: never parents, never triggered as seeds. */
  isBlockedHost?: (host: HostInfo) => boolean;
}

/**
 * Decides what every peer gets: manifest and parents, a wait for the source,
 * or back to source; relays digests; triggers seeds; evicts. Everything here
 * runs synchronously on the event loop, so one message is handled at a time
 * and the graph never needs locks.
 */
export class Coordinator {
  readonly resources = new Resources();
  readonly settings: SchedulerSettings;
  readonly metrics: SchedulerMetrics;
  readonly log: Logger;
  readonly now: () => number;
  private readonly scheduling: SchedulingOptions;
  readonly peerLinks = new PeerLinks();
  /** Public for jobs (scheduler/jobs), which send commands on these streams. */
  readonly hostLinks = new HostLinks();
  private readonly retryTimers = new KeyedTimers<Peer>();
  private readonly sourceTimers = new KeyedTimers<Task>();

  constructor(init: CoordinatorInit) {
    this.settings = init.settings;
    this.metrics = init.metrics;
    this.log = init.logger;
    this.now = init.now ?? Date.now;
    const { candidateParentLimit, filterParentLimit, badDigestHostLimit } = init.settings;
    const { random, isBlockedHost } = init;
    this.scheduling = { candidateParentLimit, filterParentLimit, badDigestHostLimit, random, isBlockedHost };
  }

  /** Parent limits from the cluster configuration (the manager's); undefined keeps a limit. */
  setParentLimits(limits: { candidateParentLimit?: number; filterParentLimit?: number }): void {
    const candidate = limits.candidateParentLimit ?? this.scheduling.candidateParentLimit;
    const filter = limits.filterParentLimit ?? this.scheduling.filterParentLimit;
    this.scheduling.candidateParentLimit = candidate;
    this.scheduling.filterParentLimit = Math.max(filter, candidate);
  }

  get connectedHosts(): number {
    return this.hostLinks.size;
  }

  /** A ConnectError for a refused call, counted by reason. */
  refuse(reason: RefusalReason, code: Code, message: string): ConnectError {
    this.metrics.refusals.inc({ reason });
    return new ConnectError(message, code);
  }

  /** First message of an AnnouncePeer stream: admits the peer, then places it. */
  register(caller: PeerIdentity, request: AnnouncePeerRequest, outbox: Outbox<AnnouncePeerResponse>): Peer {
    const peer = admit(this, caller, request, (old) => this.removePeers([old], replaced()));
    this.peerLinks.attach(peer, outbox);
    this.log.debug({ taskId: peer.task.id, peerId: peer.id, hostId: peer.host.id }, 'peer registered');
    try {
      this.place(peer);
    } catch (err) {
      this.removePeers([peer]); // a half-placed peer would otherwise linger until idle eviction
      throw err;
    }
    return peer;
  }

  /** Any later message of the stream. */
  report(peer: Peer, request: AnnouncePeerRequest): void {
    if (!this.resources.isPresent(peer)) {
      throw new ConnectError('peer is no longer registered (evicted or left)', Code.FailedPrecondition);
    }
    peer.lastActive = this.now();
    handleReport(this, peer, request);
  }

  /** The peer's stream ended: an unfinished peer leaves, a finished one stays a parent. */
  streamEnded(peer: Peer, outbox: Outbox<AnnouncePeerResponse>): void {
    if (!this.peerLinks.detach(peer, outbox)) return;
    if (!this.resources.isPresent(peer) || peer.state === 'succeeded') return;
    this.removePeers([peer]);
  }

  private place(peer: Peer): void {
    const task = peer.task;
    if (task.isSmall()) this.sendDirect(peer);
    else if (!task.info) this.placeBeforeManifest(peer);
    else if (task.needsSource()) this.makeSource(peer, 'source-lost');
    else this.deliverManifest(peer);
  }

  private placeBeforeManifest(peer: Peer): void {
    const task = peer.task;
    // A seed asking for a task without a manifest was triggered (or preheats): it fetches.
    if (peer.host.info.isSeed) {
      if (task.seedTrigger?.hostId === peer.host.id) {
        // The triggered seed answered: its seedTimeout to task_info starts now.
        task.seedTrigger = undefined;
        this.sourceTimers.clear(task);
      }
      this.makeSource(peer, 'seed');
    } else if (task.needsSource() && !this.triggerSeed(task)) {
      this.makeSource(peer, 'no-seed');
    } // otherwise it waits for the source's task_info
  }

  private triggerSeed(task: Task): boolean {
    const blocked = this.scheduling.isBlockedHost;
    const hostId = this.hostLinks.triggerSeed(
      task,
      blocked &&
        ((id) => {
          const host = this.resources.hosts.get(id);
          return host !== undefined && blocked(host.info);
        }),
    );
    if (!hostId) return false;
    task.seedTrigger = { hostId, at: this.now() };
    this.armSourceTimer(task);
    this.metrics.seedTriggers.inc();
    this.log.info({ taskId: task.id, hostId }, 'seed triggered');
    return true;
  }

  /** Tells `peer` to fetch from the origin; from now on it writes the manifest. */
  makeSource(peer: Peer, reason: string): void {
    this.retryTimers.clear(peer);
    clearParents(peer);
    peer.task.markSource(peer);
    this.send(peer, backToSourceMessage(reason));
    this.metrics.backToSource.inc({ reason });
    this.log.info({ taskId: peer.task.id, peerId: peer.id, reason }, 'peer sent back to source');
    if (!peer.task.info) this.armSourceTimer(peer.task);
  }

  private sendDirect(peer: Peer): void {
    peer.state = 'direct';
    this.send(peer, backToSourceMessage('small'));
    this.metrics.backToSource.inc({ reason: 'small' });
  }

  private deliverManifest(peer: Peer): void {
    peer.state = 'running';
    peer.hasManifest = true;
    peer.held.truncate(peer.task.info!.pieceCount);
    this.send(peer, manifestMessage(peer.task));
    this.schedule(peer);
  }

  /** The source reported task_info: every waiting peer gets the manifest (or goes direct). */
  manifestReady(task: Task): void {
    this.sourceTimers.clear(task);
    task.seedTrigger = undefined;
    for (const peer of task.peerList()) {
      if (peer.state !== 'waiting') continue;
      if (task.isSmall()) this.sendDirect(peer);
      else this.deliverManifest(peer);
    }
  }

  /**
   * Chooses and sends parents. A round without any candidate is retried after
   * `retryInterval`; after `retryBackToSourceLimit` such rounds the peer goes
   * back to source (Dragonfly's retryBackToSourceLimit).
   */
  schedule(peer: Peer, exclude?: ReadonlySet<string>): void {
    this.retryTimers.clear(peer);
    if (!this.resources.isPresent(peer) || peer.state !== 'running') return;
    const started = performance.now();
    clearParents(peer);
    const parents = selectParents(peer, exclude ? { ...this.scheduling, exclude } : this.scheduling);
    setParents(peer, parents);
    this.metrics.decisionSeconds.observe((performance.now() - started) / 1000);
    if (parents.length === 0) {
      this.noParents(peer);
      return;
    }
    peer.failedRounds = 0;
    for (const parent of parents) peer.offered.add(parent.id);
    this.send(peer, parentsMessage(parents));
  }

  private noParents(peer: Peer): void {
    peer.failedRounds++;
    if (peer.failedRounds >= this.settings.retryBackToSourceLimit) {
      this.makeSource(peer, 'no-parents');
      return;
    }
    this.retryTimers.set(peer, this.settings.retryIntervalMs, () =>
      this.guarded({ taskId: peer.task.id, peerId: peer.id }, 'retry', () => this.schedule(peer)),
    );
  }

  /** A peer finished: it stops downloading (frees its parents' slots) and stays a parent. */
  finished(peer: Peer): void {
    this.retryTimers.clear(peer);
    clearParents(peer);
    peer.state = 'succeeded';
  }

  /**
   * Removes peers and their edges, closes their streams (with `error` if
   * given), schedules the children that lost a parent, and finds a new source
   * for tasks that lost theirs.
   */
  removePeers(peers: readonly Peer[], error?: ConnectError): void {
    const orphans = new Set<Peer>();
    const tasks = new Set<Task>();
    for (const peer of peers) {
      this.retryTimers.clear(peer);
      for (const child of this.resources.removePeer(peer)) orphans.add(child);
      tasks.add(peer.task);
      this.peerLinks.close(peer, error);
      this.resources.dropHostIfUnused(peer.host);
    }
    for (const child of orphans) this.schedule(child);
    for (const task of tasks) this.settleTask(task);
  }

  private settleTask(task: Task): void {
    if (this.resources.dropTaskIfEmpty(task)) {
      this.sourceTimers.clear(task);
      return;
    }
    if (!task.needsSource()) return;
    const next = task.replacementSource();
    if (next) this.makeSource(next, 'source-lost');
  }

  private armSourceTimer(task: Task): void {
    if (this.sourceTimers.has(task)) return;
    this.sourceTimers.set(task, this.settings.seedTimeoutMs, () =>
      this.guarded({ taskId: task.id }, 'source timeout', () => this.sourceTimedOut(task)),
    );
  }

  /**
   * Neither the triggered seed nor any source reported task_info in time: one
   * more waiting peer goes to the origin (one per timeout, so a slow origin
   * does not send every waiting peer there at once).
   */
  private sourceTimedOut(task: Task): void {
    if (task.info || this.resources.tasks.get(task.id) !== task) return;
    this.log.warn({ taskId: task.id, seedHostId: task.seedTrigger?.hostId }, 'no task_info in time');
    task.seedTrigger = undefined;
    const next = task.peerList().find((peer) => peer.state === 'waiting');
    if (next) this.makeSource(next, 'seed-timeout');
    else this.resources.dropTaskIfEmpty(task);
  }

  /** Runs `work` from a timer or a stream's end: a failure is logged with its ids, never thrown. */
  guarded(ids: Record<string, string | undefined>, what: string, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.log.error({ ...ids, err }, `${what} failed`);
    }
  }

  private send(peer: Peer, message: AnnouncePeerResponse): void {
    peer.lastActive = this.now();
    this.peerLinks.send(peer, message);
  }

  /** An AnnounceHost stream opened: the host is alive (and, if a seed, can be triggered). */
  hostConnected(info: HostInfo, outbox: Outbox<HostEvent>): void {
    this.resources.upsertHost(info).connected = true;
    this.hostLinks.open(info.id, info.isSeed, outbox);
    this.log.info({ hostId: info.id, seed: info.isSeed }, 'host connected');
  }

  /** The host's AnnounceHost stream ended: all its peers leave every task. */
  hostDisconnected(hostId: string, outbox: Outbox<HostEvent>): void {
    if (!this.hostLinks.close(hostId, outbox)) return; // replaced by a newer stream
    const host = this.resources.hosts.get(hostId);
    if (!host) return;
    host.connected = false;
    this.log.info({ hostId, peers: host.peers.size }, 'host left');
    this.removePeers([...host.peers], new ConnectError('host stream ended', Code.Aborted));
    for (const task of this.resources.tasks.values()) {
      if (task.seedTrigger?.hostId !== hostId) continue;
      task.seedTrigger = undefined;
      this.sourceTimers.clear(task);
      this.settleTask(task);
    }
    this.resources.dropHostIfUnused(host);
  }

  pingHosts(): void {
    this.hostLinks.ping();
  }

  /** Evicts peers silent past peerIdleTimeout (a finished peer lives as long as its host stream). */
  sweep(): void {
    const idle = this.resources.idlePeers(this.now() - this.settings.peerIdleTimeoutMs);
    if (idle.length === 0) return;
    this.metrics.refusals.inc({ reason: 'idle' }, idle.length);
    this.log.info({ peers: idle.map((p) => `${p.task.id.slice(0, 12)}/${p.id}`) }, 'evicting idle peers');
    this.removePeers(idle, new ConnectError('peer idle for too long', Code.DeadlineExceeded));
  }

  /** Ends every stream and timer (the scheduler is stopping). */
  stop(): void {
    this.retryTimers.clearAll();
    this.sourceTimers.clearAll();
    const stopping = new ConnectError('scheduler is stopping', Code.Unavailable);
    for (const task of this.resources.tasks.values()) {
      for (const peer of task.peerList()) this.peerLinks.close(peer, stopping);
    }
    this.hostLinks.failAll(stopping);
  }
}

function replaced(): ConnectError {
  return new ConnectError('replaced by a newer registration of the same peer', Code.Aborted);
}
