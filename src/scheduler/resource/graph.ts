import type { Peer } from './peer.js';

/**
 * The per-task peer graph: an edge child→parent means "child downloads from
 * parent" and takes one of the parent host's upload slots. Kept acyclic by the
 * scheduling filter so every chain ends at a peer that has the content.
 */

/** child downloads from parent: takes one of the parent host's upload slots. */
export function addEdge(child: Peer, parent: Peer): void {
  if (child.parents.has(parent)) return;
  child.parents.add(parent);
  parent.children.add(child);
  parent.host.uploads++;
}

/** Drops the edge and gives the slot back. */
export function removeEdge(child: Peer, parent: Peer): void {
  if (!child.parents.delete(parent)) return;
  parent.children.delete(child);
  parent.host.uploads--;
}

/** Drops every parent of `child`, freeing their slots. */
export function clearParents(child: Peer): void {
  for (const parent of [...child.parents]) removeEdge(child, parent);
}

/** Drops every edge of `peer`; returns its former children (now without that parent). */
export function detach(peer: Peer): Peer[] {
  clearParents(peer);
  const orphans = [...peer.children];
  for (const child of orphans) removeEdge(child, peer);
  return orphans;
}

/** Replaces the parents of `child` with `parents`. */
export function setParents(child: Peer, parents: Peer[]): void {
  clearParents(child);
  for (const parent of parents) addEdge(child, parent);
}

const NO_PEERS: ReadonlySet<Peer> = new Set();

/** Every peer that downloads, directly or through others, from `peer`. */
export function descendants(peer: Peer): ReadonlySet<Peer> {
  if (peer.children.size === 0) return NO_PEERS; // a newly registered peer: the common case
  const seen = new Set<Peer>();
  const stack = [...peer.children];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const child of next.children) stack.push(child);
  }
  return seen;
}
