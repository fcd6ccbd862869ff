import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginLimiter } from './login-limiter.js';

test('a key is refused after `limit` failures in the window, until the oldest leaves it', () => {
  let now = 1_000_000;
  const limiter = new LoginLimiter(3, 60_000, 100, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.retryAfterMs('user:a'), 0, `attempt ${i + 1} is allowed`);
    limiter.recordFailure('user:a');
    now += 1_000;
  }
  // Failures at t0, t0+1s, t0+2s; now = t0+3s: the first leaves the window at t0+60s.
  assert.equal(limiter.retryAfterMs('user:a'), 57_000);
  assert.equal(limiter.retryAfterMs('user:b'), 0, 'another key is not affected');
  now += 57_000;
  assert.equal(limiter.retryAfterMs('user:a'), 0, 'allowed again once the first failure is a minute old');
});

test('the limiter keeps at most maxKeys keys, forgetting the least recently failed', () => {
  const now = 5_000;
  const limiter = new LoginLimiter(1, 60_000, 2, () => now);
  limiter.recordFailure('a');
  limiter.recordFailure('b');
  limiter.recordFailure('c');
  assert.equal(limiter.retryAfterMs('a'), 0, "'a' was evicted");
  assert.ok(limiter.retryAfterMs('b') > 0);
  assert.ok(limiter.retryAfterMs('c') > 0);
});

test('failures beyond the limit do not stretch the wait past a minute after the newest ones', () => {
  let now = 0;
  const limiter = new LoginLimiter(2, 60_000, 10, () => now);
  for (let i = 0; i < 10; i++) {
    limiter.recordFailure('k');
    now += 1_000;
  }
  // Newest two failures at 8 s and 9 s; now 10 s: free at 68 s.
  assert.equal(limiter.retryAfterMs('k'), 58_000);
});
