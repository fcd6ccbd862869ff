import { LoginLimiter } from '../../core/auth/login-limiter.js';

/**
 * Failed sign-ins counted per user name and per client address over a
 * minute (core/auth/login-limiter.ts): past either limit every attempt is
 * refused with 429 and Retry-After — even with the right password — until
 * the oldest failure is a minute old. Wrong invitation codes count against
 * the address too.
 */
export class LoginLimits {
  private readonly perUser: LoginLimiter;
  private readonly perAddress: LoginLimiter;

  constructor(
    settings: { loginAttemptsPerMinute: number; loginAttemptsPerAddress: number },
    now: () => number = Date.now,
  ) {
    this.perUser = new LoginLimiter(settings.loginAttemptsPerMinute, 60_000, 10_000, now);
    this.perAddress = new LoginLimiter(settings.loginAttemptsPerAddress, 60_000, 10_000, now);
  }

  /** Milliseconds until `name` from `address` may try again; 0 = now. `name` '' checks the address only. */
  retryAfterMs(name: string, address: string): number {
    return Math.max(
      name ? this.perUser.retryAfterMs(`user:${name}`) : 0,
      this.perAddress.retryAfterMs(`addr:${address}`),
    );
  }

  recordFailure(name: string, address: string): void {
    if (name) this.perUser.recordFailure(`user:${name}`);
    this.perAddress.recordFailure(`addr:${address}`);
  }
}
