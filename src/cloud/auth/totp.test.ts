import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  base32Decode,
  base32Encode,
  hotp,
  newTotpSecret,
  otpauthUrl,
  totpCode,
  totpStep,
  verifyTotp,
} from './totp.js';

// RFC 6238 Appendix B, SHA-1 column: the key is the ASCII string "12345678901234567890".
const RFC_KEY = Buffer.from('12345678901234567890', 'ascii');
const RFC_VECTORS: Array<[number, string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

test('HOTP over the time step matches the RFC 6238 SHA-1 test vectors (8 digits)', () => {
  for (const [seconds, expected] of RFC_VECTORS) {
    assert.equal(hotp(RFC_KEY, totpStep(seconds * 1000), 8), expected, `T = ${seconds}`);
  }
});

test('the 6-digit code is the last six digits of the RFC value', () => {
  const secret = base32Encode(RFC_KEY);
  assert.equal(secret, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  for (const [seconds, expected] of RFC_VECTORS) {
    assert.equal(totpCode(secret, seconds * 1000), expected.slice(2));
  }
});

test('HOTP matches the RFC 4226 Appendix D values', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583'];
  for (const [counter, code] of expected.entries()) assert.equal(hotp(RFC_KEY, counter), code);
});

test('base32 round-trips and ignores case, spaces and padding', () => {
  for (let n = 0; n < 25; n++) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
    assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
  }
  assert.deepEqual(base32Decode('gezd gnbv===='), base32Decode('GEZDGNBV'));
  assert.throws(() => base32Decode('ABC1'), /not a base32/);
});

test('a new secret is 20 random bytes (32 base32 characters)', () => {
  const a = newTotpSecret();
  assert.match(a, /^[A-Z2-7]{32}$/);
  assert.equal(base32Decode(a).length, 20);
  assert.notEqual(a, newTotpSecret());
});

test('a code is accepted one step either side, not two', () => {
  const secret = newTotpSecret();
  const now = 1_700_000_000_000;
  const step = totpStep(now);
  for (const offset of [-1, 0, 1]) {
    assert.equal(verifyTotp(secret, totpCode(secret, now + offset * 30_000), now, 0), step + offset);
  }
  for (const offset of [-2, 2]) {
    assert.equal(verifyTotp(secret, totpCode(secret, now + offset * 30_000), now, 0), undefined);
  }
});

test('a code for a step at or before the last accepted one is refused (no replay)', () => {
  const secret = newTotpSecret();
  const now = 1_700_000_000_000;
  const step = totpStep(now);
  const code = totpCode(secret, now);
  assert.equal(verifyTotp(secret, code, now, step - 1), step);
  assert.equal(verifyTotp(secret, code, now, step), undefined, 'the same code again');
  assert.equal(verifyTotp(secret, totpCode(secret, now - 30_000), now, step), undefined, 'an older code');
  assert.equal(verifyTotp(secret, totpCode(secret, now + 30_000), now, step), step + 1, 'the next one');
});

test('malformed codes and secrets are refusals, not exceptions', () => {
  const secret = newTotpSecret();
  assert.equal(verifyTotp(secret, '12345', 0, 0), undefined);
  assert.equal(verifyTotp(secret, '1234567', 0, 0), undefined);
  assert.equal(verifyTotp(secret, 'abcdef', 0, 0), undefined);
  assert.equal(verifyTotp('not base32!', '123456', 0, 0), undefined);
});

test('the otpauth URL names the issuer, account and parameters', () => {
  const url = new URL(otpauthUrl('GEZDGNBV', 'Warren', 'alice@cloud.example.test'));
  assert.equal(url.protocol, 'otpauth:');
  assert.equal(url.host, 'totp');
  assert.equal(decodeURIComponent(url.pathname), '/Warren:alice@cloud.example.test');
  assert.equal(url.searchParams.get('secret'), 'GEZDGNBV');
  assert.equal(url.searchParams.get('issuer'), 'Warren');
  assert.equal(url.searchParams.get('digits'), '6');
  assert.equal(url.searchParams.get('period'), '30');
  assert.equal(url.searchParams.get('algorithm'), 'SHA1');
});
