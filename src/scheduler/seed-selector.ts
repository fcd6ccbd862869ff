import { createHash } from 'node:crypto';

/**
 * Picks the seed host for a task by rendezvous (highest-random-weight)
 * hashing, a form of consistent hashing: every task maps to one seed host,
 * and when a seed host comes or goes only the tasks that hashed to it move,
 * so a seed keeps the tasks it already fetched.
 */
export function pickSeedHost(taskId: string, seedHostIds: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const hostId of seedHostIds) {
    const weight = createHash('sha256')
      .update(taskId)
      .update('\n')
      .update(hostId)
      .digest()
      .readBigUInt64BE(0);
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && hostId < best)) {
      best = hostId;
      bestWeight = weight;
    }
  }
  return best;
}
