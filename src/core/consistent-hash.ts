import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest-random-weight) hashing, a form of consistent hashing:
 * each key goes to the member with the highest hash of (key, member). Every
 * caller that knows the same members picks the same one without talking to
 * the others, and when a member joins or leaves only the keys that hash to it
 * move (about 1/n of them). Used for task → scheduler (peers) and task → seed
 * peer (schedulers).
 */
export function pickByRendezvous(key: string, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const member of members) {
    const weight = rendezvousWeight(key, member);
    // Equal weights (practically never) resolve to the smaller id, so the choice stays deterministic.
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}

/** The first 64 bits of SHA-256(key "\n" member). */
export function rendezvousWeight(key: string, member: string): bigint {
  return createHash('sha256').update(key).update('\n').update(member).digest().readBigUInt64BE(0);
}
