import { isBadParent } from './evaluator/bad-parent.js';
import { type CandidateView, score } from './evaluator/evaluator.js';
import { descendants } from './resource/graph.js';
import type { HostInfo } from './resource/host.js';
import type { Peer } from './resource/peer.js';

/** Limits and inputs of one scheduling decision. */
export interface SchedulingOptions {
  /** Parents returned at most (Dragonfly: candidateParentLimit). */
  candidateParentLimit: number;
  /** Eligible candidates sampled and scored at most (Dragonfly: filterParentLimit). */
  filterParentLimit: number;
  /** Hosts with this many bad-digest reports are never parents. */
  badDigestHostLimit: number;
  /** Peer ids the child must not get (reschedule exclusions, the parent that just failed). */
  exclude?: ReadonlySet<string>;
  /** Source of randomness for the sampling order; Math.random by default. */
  random?: () => number;
  /** Hosts an operator blocked through the manager: never parents. */
  isBlockedHost?: (host: HostInfo) => boolean;
}

/**
 * Chooses parents for `child`: walks the task's peers (its back-to-source peers
 * first, then the rest from a random offset), keeps the first
 * `filterParentLimit` that pass every rule, and returns the best
 * `candidateParentLimit` of those by the evaluator's score. Pure: reads the
 * graph, changes nothing.
 */
export function selectParents(child: Peer, options: SchedulingOptions): Peer[] {
  const task = child.task;
  const below = descendants(child);
  const eligible: Peer[] = [];
  for (const candidate of candidateOrder(child, options.random ?? Math.random)) {
    if (eligible.length >= options.filterParentLimit) break;
    // A peer does not download from itself.
    if (candidate === child) continue;
    // Same daemon: it would fetch pieces from its own upload server.
    if (candidate.host === child.host) continue;
    // The child asked not to get this one now (reschedule exclude, or it just failed).
    if (options.exclude?.has(candidate.id)) continue;
    // Sent a piece that did not match the manifest in this task.
    if (task.blocklist.has(candidate.id)) continue;
    // Its host sent bad pieces too often, in any task.
    if (candidate.host.badDigests >= options.badDigestHostLimit) continue;
    // An operator blocked its host (by id or IP) through the manager's blocklist.
    if (options.isBlockedHost?.(candidate.host.info)) continue;
    // Failed, or its recent piece costs say it stalls (Dragonfly's bad-parent rule).
    if (isBadParent({ gone: candidate.state === 'failed', costs: candidate.costs })) continue;
    // Has nothing to serve and nowhere to get it from yet.
    if (!canServe(candidate)) continue;
    // Downloads, directly or not, from the child: the edge would close a cycle.
    if (below.has(candidate)) continue;
    // Its host has no free upload slot.
    if (candidate.host.freeUploadSlots() <= 0) continue;
    eligible.push(candidate);
  }
  return eligible
    .map((peer) => ({ peer, score: score(candidateView(peer), child.host.info) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, options.candidateParentLimit)
    .map((scored) => scored.peer);
}

/**
 * A source or a finished peer has (or is fetching) everything; a running peer
 * can serve once it holds pieces or has parents that feed it. Waiting and
 * direct peers are outside the P2P graph.
 */
export function canServe(peer: Peer): boolean {
  if (peer.state === 'source' || peer.state === 'succeeded') return true;
  return peer.state === 'running' && (peer.parents.size > 0 || peer.held.size > 0);
}

/** Sources first (a seed must not be missed by sampling), then every other peer once. */
function* candidateOrder(child: Peer, random: () => number): Generator<Peer> {
  const task = child.task;
  for (const source of task.sources) yield source;
  const peers = task.peerList();
  const start = Math.floor(random() * peers.length);
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[(start + i) % peers.length]!;
    if (!task.sources.has(peer)) yield peer;
  }
}

function candidateView(peer: Peer): CandidateView {
  const { info } = peer.host;
  return {
    isSeed: info.isSeed,
    freeUploadSlots: peer.host.freeUploadSlots(),
    uploadLimit: peer.host.uploadLimit,
    heldRatio: peer.heldRatio(),
    idc: info.idc,
    location: info.location,
  };
}
