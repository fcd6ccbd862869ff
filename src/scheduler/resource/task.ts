import { DIRECT_SOURCE_MAX } from '../../core/task.js';
import type { Peer } from './peer.js';

/** The content's shape as reported by the back-to-source peer. */
export interface TaskShape {
  contentLength: number;
  pieceLength: number;
  pieceCount: number;
}

/** How the task reaches the origin: what a triggered seed or a back-to-source peer needs. */
export interface TaskOrigin {
  url: string;
  headers: Record<string, string>;
  tag: string;
  application: string;
  filterQuery: string[];
  /** Content-addressed task ('sha256:<hex>', the id is its hex); absent otherwise. */
  digest?: string;
}

/** Outcome of recording a digest: first writer wins. */
export type DigestResult = 'new' | 'same' | 'conflict';

/**
 * One piece of content (a task id) and the peers downloading or holding it.
 * The manifest (shape, piece digests, content digest) is filled in only from
 * peers the scheduler sent back to source.
 */
export class Task {
  readonly id: string;
  readonly origin: TaskOrigin;
  info: TaskShape | undefined;
  readonly digests = new Map<number, Uint8Array>();
  contentSha256: Uint8Array | undefined;
  readonly peers = new Map<string, Peer>();
  /** Peers told to go back to source (manifest authors), while they are in the task. */
  readonly sources = new Set<Peer>();
  /** Peers that sent a piece not matching the manifest: never parents in this task again. */
  readonly blocklist = new Set<string>();
  /** A seed host was asked to fetch this task and has not reported task_info yet. */
  seedTrigger: { hostId: string; at: number } | undefined;
  readonly createdAt: number;
  private peerArray: Peer[] | undefined;
  private digestArray: { number: number; sha256: Uint8Array }[] | undefined;

  constructor(id: string, origin: TaskOrigin, now: number) {
    this.id = id;
    this.origin = origin;
    this.createdAt = now;
  }

  /**
   * Content small enough that every peer fetches it from the origin. Never a
   * content-addressed task (an OCI blob): those are self-verifying, and the
   * registry behind them is the origin to protect (rate limits, one fetch
   * per blob for the whole fleet), so small blobs go peer to peer too.
   */
  isSmall(): boolean {
    return !this.origin.digest && this.info !== undefined && this.info.contentLength <= DIRECT_SOURCE_MAX;
  }

  addPeer(peer: Peer): void {
    this.peers.set(peer.id, peer);
    this.peerArray = undefined;
  }

  deletePeer(peer: Peer): boolean {
    if (this.peers.get(peer.id) !== peer) return false;
    this.peers.delete(peer.id);
    this.sources.delete(peer);
    this.peerArray = undefined;
    return true;
  }

  /** The peers as an array, cached until membership changes (the scheduling loop walks it). */
  peerList(): readonly Peer[] {
    this.peerArray ??= [...this.peers.values()];
    return this.peerArray;
  }

  /** Makes `peer` a manifest author: its task_info and digests are trusted. */
  markSource(peer: Peer): void {
    peer.isSource = true;
    peer.state = 'source';
    this.sources.add(peer);
  }

  /** A back-to-source peer that has not failed or left is still working on the content. */
  hasActiveSource(): boolean {
    for (const peer of this.sources) {
      if (peer.state === 'source') return true;
    }
    return false;
  }

  /**
   * Nobody is (or will be) writing the rest of the manifest: no seed was
   * triggered, no source is at work, and the content digest is unknown.
   */
  needsSource(): boolean {
    if (this.seedTrigger || this.hasActiveSource() || this.contentSha256) return false;
    return !this.info || this.digests.size < this.info.pieceCount;
  }

  /** Who should fetch from the origin next: a seed's peer first, else the longest-registered one. */
  replacementSource(): Peer | undefined {
    let best: Peer | undefined;
    for (const peer of this.peerList()) {
      if (peer.state !== 'waiting' && peer.state !== 'running') continue;
      if (!best || (peer.host.info.isSeed && !best.host.info.isSeed)) best = peer;
    }
    return best;
  }

  recordDigest(number: number, sha256: Uint8Array): DigestResult {
    const known = this.digests.get(number);
    if (known) return bytesEqual(known, sha256) ? 'same' : 'conflict';
    this.digests.set(number, sha256);
    this.digestArray = undefined;
    return 'new';
  }

  recordContentDigest(sha256: Uint8Array): DigestResult {
    if (this.contentSha256) return bytesEqual(this.contentSha256, sha256) ? 'same' : 'conflict';
    this.contentSha256 = sha256;
    return 'new';
  }

  /**
   * Drops the manifest: for a content-addressed task whose manifest author
   * failed before anyone completed it, the piece digests came from bytes
   * that may not match the digest (a registry serving wrong bytes), and they
   * must not bind the next author to them.
   */
  forgetManifest(): void {
    this.info = undefined;
    this.digests.clear();
    this.digestArray = undefined;
    this.contentSha256 = undefined;
  }

  /** Known digests in piece order, shared by every manifest sent until a new one arrives. */
  digestList(): readonly { number: number; sha256: Uint8Array }[] {
    this.digestArray ??= [...this.digests.entries()]
      .sort(([a], [b]) => a - b)
      .map(([number, sha256]) => ({ number, sha256 }));
    return this.digestArray;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
