import { TokenBucket } from '../core/token-bucket.js';

/**
 * Per-host message rate: one token bucket per caller (its certificate name),
 * `messagesPerSecond` steady with `burst` saved up. A message over the rate is
 * refused, not queued, so an abusive host costs neither memory nor time.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { bucket: TokenBucket; lastUsed: number }>();
  private readonly now: () => number;
  /** A bucket unused this long has refilled completely: it is the same as a new one. */
  private readonly refillMs: number;

  constructor(private readonly options: { messagesPerSecond: number; burst: number; now?: () => number }) {
    this.now = options.now ?? (() => performance.now());
    this.refillMs = (options.burst / options.messagesPerSecond) * 1000;
  }

  /** Buckets held (hosts active within the refill time). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token from `key`'s bucket; false when it is over the rate. */
  take(key: string): boolean {
    const now = this.now();
    let entry = this.buckets.get(key);
    if (!entry) {
      const bucket = new TokenBucket(this.options.messagesPerSecond, this.options.burst, this.now);
      entry = { bucket, lastUsed: now };
      this.buckets.set(key, entry);
    }
    entry.lastUsed = now;
    return entry.bucket.tryTake(1);
  }

  /** Forgets buckets that have refilled, so the map only holds recently busy hosts. */
  sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.buckets) {
      if (now - entry.lastUsed >= this.refillMs) this.buckets.delete(key);
    }
  }
}
