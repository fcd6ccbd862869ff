import type { ConnectError } from '@connectrpc/connect';
import type { AnnouncePeerResponse, HostEvent } from '../protocol/gen/scheduler_pb.js';
import { digestsMessage, mergeDigests, pingEvent, seedTriggerEvent } from './messages.js';
import type { Outbox } from './outbox.js';
import type { Peer } from './resource/peer.js';
import type { Task } from './resource/task.js';
import { pickSeedHost } from './seed-selector.js';

type Digest = { number: number; sha256: Uint8Array };

/** The open AnnouncePeer streams, by peer: how a decision reaches its peer. */
export class PeerLinks {
  private readonly links = new WeakMap<Peer, Outbox<AnnouncePeerResponse>>();

  attach(peer: Peer, outbox: Outbox<AnnouncePeerResponse>): void {
    this.links.set(peer, outbox);
  }

  /** Forgets the peer's stream; false if `outbox` is not (or no longer) its stream. */
  detach(peer: Peer, outbox: Outbox<AnnouncePeerResponse>): boolean {
    if (this.links.get(peer) !== outbox) return false;
    this.links.delete(peer);
    return true;
  }

  send(peer: Peer, message: AnnouncePeerResponse): void {
    this.links.get(peer)?.push(message);
  }

  /** Ends the peer's stream, with `error` if given. */
  close(peer: Peer, error?: ConnectError): void {
    const outbox = this.links.get(peer);
    if (!outbox) return;
    this.links.delete(peer);
    if (error) outbox.fail(error);
    else outbox.close();
  }

  /**
   * Sends new digests (and the content digest once known) to every
   * downloading peer of the task but `from`; folded into a piece_digests
   * message still queued for a peer, so a slow reader gets one message.
   */
  relay(task: Task, from: Peer, digests: readonly Digest[], contentSha256?: Uint8Array): void {
    for (const peer of task.peerList()) {
      if (peer === from || !peer.hasManifest || peer.state !== 'running') continue;
      this.links.get(peer)?.pushOrMerge(
        (last) => mergeDigests(last, digests, contentSha256),
        () => digestsMessage(digests, contentSha256),
      );
    }
  }
}

/**
 * The open AnnounceHost streams: one per host (a reconnect replaces the older
 * stream), pings on all of them, seed triggers to the seed hosts.
 */
export class HostLinks {
  private readonly links = new Map<string, Outbox<HostEvent>>();
  private readonly seeds = new Set<string>();

  get size(): number {
    return this.links.size;
  }

  /** Registers the host's new stream (closing an older one) and pings it at once. */
  open(hostId: string, isSeed: boolean, outbox: Outbox<HostEvent>): void {
    this.links.get(hostId)?.close();
    this.links.set(hostId, outbox);
    if (isSeed) this.seeds.add(hostId);
    else this.seeds.delete(hostId);
    outbox.push(pingEvent());
  }

  /** Forgets the stream; false if a newer stream of the host has replaced it. */
  close(hostId: string, outbox: Outbox<HostEvent>): boolean {
    if (this.links.get(hostId) !== outbox) return false;
    this.links.delete(hostId);
    this.seeds.delete(hostId);
    return true;
  }

  /** Sends the task to the seed host it hashes to (skipping `excluded` ones); the host id, or undefined. */
  triggerSeed(task: Task, excluded?: (hostId: string) => boolean): string | undefined {
    const seeds = excluded ? [...this.seeds].filter((id) => !excluded(id)) : this.seeds;
    const hostId = pickSeedHost(task.id, seeds);
    if (!hostId || !this.links.get(hostId)?.push(seedTriggerEvent(task))) return undefined;
    return hostId;
  }

  ping(): void {
    for (const outbox of this.links.values()) outbox.push(pingEvent());
  }

  /** Queues `event` on the host's stream; false if it has none (or it was just cut off). */
  send(hostId: string, event: HostEvent): boolean {
    return this.links.get(hostId)?.push(event) ?? false;
  }

  has(hostId: string): boolean {
    return this.links.has(hostId);
  }

  /** Hosts with an open stream, and which of them are seeds (for jobs). */
  connected(): { hostIds: string[]; seedIds: ReadonlySet<string> } {
    return { hostIds: [...this.links.keys()], seedIds: this.seeds };
  }

  failAll(error: ConnectError): void {
    for (const outbox of this.links.values()) outbox.fail(error);
    this.links.clear();
    this.seeds.clear();
  }
}

/** One-shot unref'd timers keyed by object: setting a key again replaces its timer. */
export class KeyedTimers<K> {
  private readonly timers = new Map<K, NodeJS.Timeout>();

  has(key: K): boolean {
    return this.timers.has(key);
  }

  set(key: K, ms: number, run: () => void): void {
    this.clear(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      run();
    }, ms);
    timer.unref();
    this.timers.set(key, timer);
  }

  clear(key: K): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  clearAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
