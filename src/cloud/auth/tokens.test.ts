import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { consoleCookie, cookieValue, csrfTokenFor, csrfTokenMatches } from './tokens.js';

test('the CSRF token depends on the instance secret and the session', () => {
  const key = randomBytes(32);
  const token = csrfTokenFor(key, 'a'.repeat(64));
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(csrfTokenMatches(key, 'a'.repeat(64), token), true);
  assert.equal(csrfTokenMatches(key, 'b'.repeat(64), token), false, 'another session');
  assert.equal(csrfTokenMatches(randomBytes(32), 'a'.repeat(64), token), false, 'another instance');
  assert.equal(csrfTokenMatches(key, 'a'.repeat(64), undefined), false);
  assert.equal(csrfTokenMatches(key, 'a'.repeat(64), `${token}x`), false);
  assert.equal(csrfTokenMatches(key, 'a'.repeat(64), ''), false);
});

test('cookies are read by exact name', () => {
  const header = 'x=1; __Host-warren-session=wcs_abc; __Host-warren-session-2=no';
  assert.equal(cookieValue(header, '__Host-warren-session'), 'wcs_abc');
  assert.equal(cookieValue(header, 'y'), undefined);
  assert.equal(cookieValue(undefined, 'x'), undefined);
  assert.equal(cookieValue('x'.repeat(9000), 'x'), undefined);
});

test('the console cookie is host-only, Secure, HttpOnly and SameSite=Strict', () => {
  assert.equal(
    consoleCookie('wcs_s', 7 * 86_400_000),
    '__Host-warren-session=wcs_s; Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Strict',
  );
  assert.match(consoleCookie('', 0), /^__Host-warren-session=; Path=\/; Max-Age=0;/);
  assert.doesNotMatch(consoleCookie('wcs_s', 1000), /Domain/i);
});
