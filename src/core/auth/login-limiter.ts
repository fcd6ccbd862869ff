import { LruMap } from './lru.js';

/**
 * Counts failed logins per key (`user:<name>`, `addr:<ip>`) over a sliding
 * window. Once a key has `limit` failures in the window, further attempts are
 * refused until the oldest failure leaves the window — even with the right
 * password, or guessing would just continue at full speed. In memory and
 * bounded: beyond `maxKeys` the least recently failed key is forgotten.
 */
export class LoginLimiter {
  private readonly failures: LruMap<string, number[]>;

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.failures = new LruMap(maxKeys);
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const times = this.recent(key);
    if (times.length < this.limit) return 0;
    return Math.max(1, times[times.length - this.limit]! + this.windowMs - this.now());
  }

  recordFailure(key: string): void {
    const times = this.recent(key);
    times.push(this.now());
    // Only the newest `limit` failures decide when the key is let through again.
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    this.failures.set(key, times);
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const times = (this.failures.peek(key) ?? []).filter((t) => t > cutoff);
    if (times.length === 0) this.failures.delete(key);
    return times;
  }
}
