/**
 * Bad-parent rule, after Dragonfly's IsBadNode (dragonflyoss/Dragonfly2
 * scheduler/scheduling/evaluator/evaluator.go), applied to the piece costs a
 * parent's children reported (milliseconds per piece, oldest first):
 *
 * 1. a parent that failed or left is bad;
 * 2. fewer than 2 samples: not bad (nothing to compare with);
 * 3. fewer than 20 samples (too few for a normal distribution): bad if the
 *    last cost is more than 40 × the mean of the earlier ones;
 * 4. otherwise the three-sigma rule: bad if the last cost is more than
 *    mean + 3·σ of the earlier ones (population standard deviation).
 *
 * Dragonfly's current code uses 30 samples and 20 × the mean for rule 3;
 * Warren's design fixes 20 samples and 40 × (the constants below).
 */

/** Samples below which a parent cannot be judged (rule 2). */
export const MIN_AVAILABLE_COST_LEN = 2;
/** Samples from which costs are taken as normally distributed (rule 4). */
export const NORMAL_DISTRIBUTION_LEN = 20;
/** Rule 3: a last cost above this multiple of the mean is bad. */
export const MEAN_MULTIPLIER = 40;

/** What the rule reads about a candidate parent. */
export interface ParentHealth {
  /** The parent failed its download or left the task. */
  gone: boolean;
  costs: readonly number[];
}

/** True if `parent` should not be given to children now (see the rule above). */
export function isBadParent(parent: ParentHealth): boolean {
  if (parent.gone) return true;
  const n = parent.costs.length;
  if (n < MIN_AVAILABLE_COST_LEN) return false;
  const last = parent.costs[n - 1]!;
  const earlier = parent.costs.slice(0, n - 1);
  const mean = earlier.reduce((sum, cost) => sum + cost, 0) / earlier.length;
  if (n < NORMAL_DISTRIBUTION_LEN) return last > mean * MEAN_MULTIPLIER;
  const variance = earlier.reduce((sum, cost) => sum + (cost - mean) ** 2, 0) / earlier.length;
  return last > mean + 3 * Math.sqrt(variance);
}
