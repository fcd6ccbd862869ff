import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newOneTimePassword, newSecret, sessionId, sha256Hex } from './secrets.js';

test('secrets are prefixed, 256-bit, base64url and distinct', () => {
  const a = newSecret('wrs_');
  const b = newSecret('wrs_');
  assert.match(a, /^wrs_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, b);
  assert.match(newSecret('wrp_'), /^wrp_[A-Za-z0-9_-]{43}$/);
});

test('the one-time password is at least 20 base64url characters', () => {
  const password = newOneTimePassword();
  assert.match(password, /^[A-Za-z0-9_-]{20,}$/);
  assert.notEqual(password, newOneTimePassword());
});

test("a session's public id is a hash prefix, not the hash", () => {
  const hash = sha256Hex('wrs_x');
  assert.equal(sessionId(hash), `ses_${hash.slice(0, 16)}`);
});
