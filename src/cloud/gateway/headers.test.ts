import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieValue } from '../../core/http/cookies.js';
import {
  clientAddress,
  downstreamResponseHeaders,
  refusedSetCookie,
  requestFacts,
  stripPlatformCookies,
  upstreamRequestHeaders,
} from './headers.js';

const context = {
  clientIp: '203.0.113.7',
  host: 'notes.cloud.test',
  visitor: { userId: 'u1', userName: 'alice' },
};

/** Pairs of a flat header array, names lower-cased. */
function pairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}
function all(raw: string[], name: string): string[] {
  return pairs(raw)
    .filter(([n]) => n === name)
    .map(([, v]) => v);
}

test('upstream headers: client forwarding headers are dropped and only the gateway sets them', () => {
  const out = upstreamRequestHeaders(
    [
      'Host',
      'notes.cloud.test',
      'X-Forwarded-For',
      '10.0.0.1',
      'x-forwarded-proto',
      'http',
      'X-Forwarded-Host',
      'evil.example',
      'X-Forwarded-Port',
      '1',
      'Forwarded',
      'for=10.0.0.1',
      'X-Real-IP',
      '10.0.0.1',
      'X-Warren-User',
      'admin',
      'x-warren-user-id',
      'u0',
      'Accept',
      'text/html',
    ],
    context,
  );
  assert.deepEqual(all(out, 'x-forwarded-for'), ['203.0.113.7']);
  assert.deepEqual(all(out, 'x-forwarded-proto'), ['https']);
  assert.deepEqual(all(out, 'x-forwarded-host'), ['notes.cloud.test']);
  assert.deepEqual(all(out, 'x-warren-user'), ['alice']);
  assert.deepEqual(all(out, 'x-forwarded-port'), []);
  assert.deepEqual(all(out, 'forwarded'), []);
  assert.deepEqual(all(out, 'x-real-ip'), []);
  assert.deepEqual(all(out, 'x-warren-user-id'), []);
  assert.deepEqual(all(out, 'host'), ['notes.cloud.test']);
  assert.deepEqual(all(out, 'accept'), ['text/html']);
});

test('upstream headers: Authorization, Proxy-*, hop-by-hop and Connection-listed headers are removed', () => {
  const out = upstreamRequestHeaders(
    [
      'Host',
      'x',
      'Authorization',
      'Bearer secret',
      'Proxy-Authorization',
      'Basic x',
      'Proxy-Connection',
      'keep-alive',
      'Connection',
      'keep-alive, X-Private, Content-Length',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Trailer',
      'X-T',
      'Upgrade',
      'websocket',
      'X-Private',
      'p',
      'Content-Length',
      '3',
    ],
    context,
  );
  const names = pairs(out).map(([n]) => n);
  for (const gone of [
    'authorization',
    'proxy-authorization',
    'proxy-connection',
    'connection',
    'keep-alive',
    'te',
    'trailer',
    'upgrade',
    'x-private',
  ]) {
    assert.ok(!names.includes(gone), `${gone} must be removed`);
  }
  // Listing Content-Length in Connection must not unframe the body.
  assert.deepEqual(all(out, 'content-length'), ['3']);
  assert.deepEqual(all(out, 'host'), ['notes.cloud.test'], 'the checked host replaces the client one');
});

test('upstream headers: an upgrade keeps Upgrade with Connection: Upgrade', () => {
  const out = upstreamRequestHeaders(
    ['Host', 'x', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'abc'],
    { ...context, upgrade: true },
  );
  assert.deepEqual(all(out, 'connection'), ['Upgrade']);
  assert.deepEqual(all(out, 'upgrade'), ['websocket']);
  assert.deepEqual(all(out, 'sec-websocket-key'), ['abc']);
});

test('upstream headers: framing and Expect are left to the transport', () => {
  const out = upstreamRequestHeaders(
    ['Transfer-Encoding', 'chunked', 'Expect', '100-continue', 'Content-Type', 'a/b'],
    context,
  );
  assert.deepEqual(all(out, 'transfer-encoding'), []);
  assert.deepEqual(all(out, 'expect'), []);
  assert.deepEqual(all(out, 'content-type'), ['a/b']);
});

test('upstream headers: platform cookies are stripped, app cookies kept', () => {
  const out = upstreamRequestHeaders(
    ['Cookie', '__Host-warren-session=s1; theme=dark; __Host-warren-app=a1; __host-WARREN-other=x; sid=42'],
    context,
  );
  assert.deepEqual(all(out, 'cookie'), ['theme=dark; sid=42']);
  const none = upstreamRequestHeaders(['Cookie', '__Host-warren-app=a1'], context);
  assert.deepEqual(all(none, 'cookie'), []);
  assert.equal(stripPlatformCookies('a=1;b=2'), 'a=1;b=2');
});

test('upstream headers: a user name that is not plain ASCII cannot break the header', () => {
  const out = upstreamRequestHeaders([], { ...context, visitor: { userId: 'u', userName: 'zoë\r\nX: y' } });
  assert.deepEqual(all(out, 'x-warren-user'), ['zo%C3%AB%0D%0AX%3A%20y']);
});

test('cookieValue (core/http/cookies.ts, the gateway reads the app cookie with it) finds whole cookie names only', () => {
  assert.equal(cookieValue('a=1; __Host-warren-app=v1; b=2', '__Host-warren-app'), 'v1');
  assert.equal(cookieValue('x__Host-warren-app=no; __Host-warren-app=yes', '__Host-warren-app'), 'yes');
  assert.equal(cookieValue('__Host-warren-app="q"', '__Host-warren-app'), 'q');
  assert.equal(cookieValue('__Host-warren-apps=v', '__Host-warren-app'), undefined);
  assert.equal(cookieValue(undefined, '__Host-warren-app'), undefined);
});

test('clientAddress drops the IPv4-mapped prefix', () => {
  assert.equal(clientAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(clientAddress('::1'), '::1');
});

test('response headers: Set-Cookie with Domain or a platform name is dropped, others kept', () => {
  const out = downstreamResponseHeaders([
    'Set-Cookie',
    'a=1; Path=/; HttpOnly',
    'Set-Cookie',
    'b=2; Domain=cloud.test; Path=/',
    'set-cookie',
    'c=3; path=/; DOMAIN=.cloud.test',
    'Set-Cookie',
    '__Host-warren-app=stolen; Path=/; Secure',
    'Set-Cookie',
    '__host-warren-session=x; Path=/; Secure',
    'Content-Type',
    'text/html',
  ]);
  assert.deepEqual(all(out, 'set-cookie'), ['a=1; Path=/; HttpOnly']);
  assert.deepEqual(all(out, 'content-type'), ['text/html']);
  assert.equal(refusedSetCookie('x=1; Domain=sibling.cloud.test'), 'domain');
  assert.equal(refusedSetCookie('__Host-warren-app=1'), 'platform-name');
  assert.equal(refusedSetCookie('x=1; Secure; SameSite=Lax'), undefined);
});

test('response headers: hop-by-hop and Connection-listed headers are dropped, except an upgrade`s', () => {
  const raw = [
    'Connection',
    'keep-alive, X-Hop',
    'Keep-Alive',
    'timeout=5',
    'Transfer-Encoding',
    'chunked',
    'X-Hop',
    '1',
    'Proxy-Authenticate',
    'Basic',
    'ETag',
    '"e"',
  ];
  assert.deepEqual(pairs(downstreamResponseHeaders(raw)), [
    ['etag', '"e"'],
    ['cache-control', 'private, no-cache'],
  ]);
  const upgraded = downstreamResponseHeaders(
    ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Accept', 'k'],
    { upgrade: true },
  );
  assert.deepEqual(pairs(upgraded), [
    ['connection', 'Upgrade'],
    ['upgrade', 'websocket'],
    ['sec-websocket-accept', 'k'],
  ]);
});

test('response headers: a page without Cache-Control is not reused without asking the gateway again', () => {
  // Otherwise a browser's heuristic cache shows an app's pages after sign-out.
  assert.deepEqual(all(downstreamResponseHeaders(['Content-Type', 'text/html']), 'cache-control'), [
    'private, no-cache',
  ]);
  assert.deepEqual(
    all(downstreamResponseHeaders(['Cache-Control', 'public, max-age=31536000, immutable']), 'cache-control'),
    ['public, max-age=31536000, immutable'],
  );
});

test('requestFacts reads host, cookies, accept, body framing, Origin and Fetch Metadata in one pass', () => {
  assert.deepEqual(
    requestFacts([
      'Host',
      'notes.cloud.test:8443',
      'Cookie',
      'a=1',
      'ACCEPT',
      'text/html',
      'cookie',
      'b=2',
      'Content-Length',
      '12',
      'X-Long-Header-Name',
      'x',
      'Host',
      'second.example',
      'Origin',
      'https://chat.cloud.test',
      'Sec-Fetch-Site',
      'same-site',
      'Sec-Fetch-Mode',
      'cors',
    ]),
    {
      host: 'notes.cloud.test:8443',
      cookie: 'a=1; b=2',
      accept: 'text/html',
      contentLength: 12,
      chunked: false,
      origin: 'https://chat.cloud.test',
      fetchSite: 'same-site',
      fetchMode: 'cors',
    },
  );
  assert.equal(requestFacts(['Transfer-Encoding', 'chunked']).chunked, true);
  assert.equal(requestFacts([]).host, undefined);
});
