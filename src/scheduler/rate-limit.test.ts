import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter } from './rate-limit.js';

describe('RateLimiter', () => {
  it('allows the burst, refuses beyond it, and refills at the rate', () => {
    let now = 0;
    const limiter = new RateLimiter({ messagesPerSecond: 10, burst: 3, now: () => now });
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a')),
      [true, true, true, false],
    );
    assert.equal(limiter.take('b'), true, 'hosts have their own buckets');
    now += 100;
    assert.equal(limiter.take('a'), true);
    assert.equal(limiter.take('a'), false);
  });

  it('forgets buckets once they have refilled', () => {
    let now = 0;
    const limiter = new RateLimiter({ messagesPerSecond: 10, burst: 5, now: () => now });
    limiter.take('a');
    limiter.take('b');
    now += 499;
    limiter.take('b');
    now += 1;
    limiter.sweep();
    assert.equal(limiter.size, 1);
  });
});
