import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Token bucket: `rate` tokens per second, at most `burst` saved up. Used for
 * upload bandwidth (tokens = bytes), back-to-source bandwidth and request
 * rates (tokens = requests). A rate of 0 means unlimited.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number = rate,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Takes `n` tokens if there are enough; never blocks. */
  tryTake(n = 1): boolean {
    if (this.rate === 0) return true;
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /**
   * Takes `n` tokens, going into debt if needed, and returns how many
   * milliseconds the caller should wait before going on. Debt lets one chunk
   * larger than the burst through without stalling forever.
   */
  take(n: number): number {
    if (this.rate === 0) return 0;
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}

/** Waits as long as the bucket says, honouring an abort signal. */
export function throttle(bucket: TokenBucket, n: number, signal?: AbortSignal): Promise<void> | undefined {
  const wait = bucket.take(n);
  // No promise at all when there is nothing to wait for: this is on the piece data path.
  if (wait <= 0) return undefined;
  return sleep(wait, undefined, { signal });
}
