/** Clusters tracked at once; the least recently added goes first beyond it. */
const MAX_KEYS = 10_000;

/**
 * Job creations per second per cluster: a token bucket per cluster holding at
 * most `rate` tokens (so a burst of `rate` passes, then `rate` per second).
 * One cluster over its limit does not slow another.
 */
export class ClusterLimiter {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();

  constructor(
    private readonly rate: number,
    private readonly now: () => number = () => performance.now(),
    private readonly maxKeys = MAX_KEYS,
  ) {}

  /** Takes a token for `key`: 0 if allowed, else the milliseconds until one is free. */
  take(key: string): number {
    const t = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.rate, last: t };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.rate, bucket.tokens + ((t - bucket.last) / 1000) * this.rate);
    bucket.last = t;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.rate) * 1000);
  }
}
