import { pickByRendezvous } from '../core/consistent-hash.js';

/**
 * Picks the seed host for a task by rendezvous (highest-random-weight)
 * hashing, a form of consistent hashing: every task maps to one seed host,
 * and when a seed host comes or goes only the tasks that hashed to it move,
 * so a seed keeps the tasks it already fetched.
 */
export function pickSeedHost(taskId: string, seedHostIds: Iterable<string>): string | undefined {
  return pickByRendezvous(taskId, seedHostIds);
}
