import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Hex } from '../../core/auth/secrets.js';
import { newEnrollSecret, newSecret, parseEnrollToken } from './secrets.js';

test("the manager's secrets carry their prefix", () => {
  assert.match(newSecret('wrs_'), /^wrs_[A-Za-z0-9_-]{43}$/);
  assert.match(newSecret('wrp_'), /^wrp_[A-Za-z0-9_-]{43}$/);
});

test('a join token carries the CA fingerprint and parses back', () => {
  const fingerprint = sha256Hex('a CA certificate');
  const token = newEnrollSecret(fingerprint);
  assert.match(token, /^wrj_[A-Za-z0-9_-]{43}_[0-9a-f]{64}$/);
  assert.deepEqual(parseEnrollToken(token), { caFingerprint: fingerprint });
  assert.equal(parseEnrollToken(`${token}0`), undefined);
  assert.equal(parseEnrollToken(token.replace('wrj_', 'wrp_')), undefined);
});
