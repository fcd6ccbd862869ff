import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieValue, csrfTokenFor, csrfTokenMatches, SESSION_COOKIE, sessionCookie } from './secrets.js';

test('the CSRF token is tied to its session and checked exactly', () => {
  const token = csrfTokenFor('wss_one');
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(token, csrfTokenFor('wss_two'));
  assert.ok(csrfTokenMatches('wss_one', token));
  assert.ok(!csrfTokenMatches('wss_two', token));
  assert.ok(!csrfTokenMatches('wss_one', undefined));
  assert.ok(!csrfTokenMatches('wss_one', `${token}x`));
});

test('the session cookie is HttpOnly, Secure, SameSite=Strict, host-only; and parses back', () => {
  const set = sessionCookie('wss_abc', 3_600_000);
  assert.match(
    set,
    /^__Host-warren-store-session=wss_abc; Path=\/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict$/,
  );
  assert.equal(cookieValue(`a=b; ${SESSION_COOKIE}=wss_abc; c=d`, SESSION_COOKIE), 'wss_abc');
  assert.equal(cookieValue('a=b', SESSION_COOKIE), undefined);
  assert.equal(cookieValue(undefined, SESSION_COOKIE), undefined);
});
