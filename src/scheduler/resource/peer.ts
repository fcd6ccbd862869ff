import type { Host } from './host.js';
import { PieceSet } from './piece-set.js';
import type { Task } from './task.js';

/**
 * - `waiting`: registered, no manifest yet (the source has not reported task_info)
 * - `running`: has the manifest, downloads from parents
 * - `source`: told to go back to source; its digests are trusted for the task
 * - `direct`: content is small, fetched straight from the origin (not in the P2P graph)
 * - `succeeded`: has every piece; stays a parent until its host leaves or it leaves
 * - `failed`: gave up; never a parent again
 */
export type PeerState = 'waiting' | 'running' | 'source' | 'direct' | 'succeeded' | 'failed';

/** Piece costs kept per parent: enough for the 3-sigma rule, bounded memory. */
export const COST_SAMPLES = 64;

/** One download of one task by one host. */
export class Peer {
  readonly id: string;
  readonly task: Task;
  readonly host: Host;
  state: PeerState = 'waiting';
  /** Designated back-to-source peer: the only kind whose digests are recorded. */
  isSource = false;
  /** Has been sent the manifest (and so wants every later digest). */
  hasManifest = false;
  readonly held = new PieceSet();
  /** Graph edges, kept by graph.ts: this peer downloads from `parents`. */
  readonly parents = new Set<Peer>();
  readonly children = new Set<Peer>();
  /** Every parent id ever sent to this peer: failures are only taken about these. */
  readonly offered = new Set<string>();
  /** Milliseconds children took to get a piece from this peer, oldest first. */
  readonly costs: number[] = [];
  /** Scheduling rounds in a row that found no candidate. */
  failedRounds = 0;
  readonly registeredAt: number;
  lastActive: number;

  constructor(id: string, task: Task, host: Host, now: number) {
    this.id = id;
    this.task = task;
    this.host = host;
    this.registeredAt = now;
    this.lastActive = now;
  }

  /** Records the cost of a piece a child fetched from this peer. */
  recordCost(ms: number): void {
    this.costs.push(ms);
    if (this.costs.length > COST_SAMPLES) this.costs.shift();
  }

  /** Holds every piece (finished, or the origin author): the ratio used by the evaluator. */
  heldRatio(): number {
    const total = this.task.info?.pieceCount ?? 0;
    if (this.state === 'succeeded') return 1;
    return total > 0 ? Math.min(1, this.held.size / total) : 0;
  }
}
