import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { DOMAIN, fetchVia, rawValues, startGateway, startUpstream } from './gateway-fixture.js';

/*
 * The gateway's transport: WebSocket upgrades through it (and refused
 * without a session), the certificate swapped while it runs, SNI, and a
 * slowloris client cut at the headers timeout.
 */

const alice = { userId: 'u-alice', userName: 'alice' };
const HEADERS_TIMEOUT_MS = 1000;
let env: Awaited<ReturnType<typeof startGateway>>;
let upstream: Awaited<ReturnType<typeof startUpstream>>;
let port: number;
let notesCookie: string;
const sockets: TLSSocket[] = [];

before(async () => {
  env = await startGateway(tempDir('warren-gateway-transport-'), {
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: 5000,
    upgradeTimeoutMs: 1000,
  });
  upstream = await startUpstream();
  port = env.gateway.address.https.port;
  env.routes.apps.set('notes', { kind: 'running', host: '127.0.0.1', port: upstream.port, urlPath: '/' });
  notesCookie = env.gate.session('notes', alice);
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await env?.gateway.stop();
  upstream?.server.close();
  upstream?.server.closeAllConnections();
  cleanupTempDirs();
});

function tlsTo(servername: string, options: { ca?: string } = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername,
      ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
    });
    sockets.push(socket);
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Reads from `socket` until `done(text)` is true or the socket ends. */
function readUntil(socket: TLSSocket, done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(text);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', onData);
    socket.once('close', finish);
  });
}

function upgradeRequest(host: string, key: string, extra: string[] = []): string {
  return [
    'GET /socket?room=1 HTTP/1.1',
    `Host: ${host}:${port}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${key}`,
    ...extra,
    '',
    '',
  ].join('\r\n');
}

test('a WebSocket upgrade passes through with filtered headers, and bytes echo both ways', async () => {
  const socket = await tlsTo(`notes.${DOMAIN}`, { ca: env.caPem });
  const key = randomBytes(16).toString('base64');
  socket.write(
    upgradeRequest(`notes.${DOMAIN}`, key, [
      `Cookie: __Host-warren-app=${notesCookie}; pref=1`,
      'X-Forwarded-For: 198.51.100.9',
      'X-Warren-User: admin',
    ]),
  );
  const head = await readUntil(socket, (t) => t.includes('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 101 /);
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  assert.match(head, new RegExp(`Sec-WebSocket-Accept: ${accept.replace(/[+/]/g, '\\$&')}`, 'i'));
  assert.doesNotMatch(head, /Set-Cookie/i, 'a Domain cookie on the 101 is dropped too');

  const payload = randomBytes(100_000);
  const echoed: Buffer[] = [];
  let got = 0;
  const all = new Promise<void>((ok) => {
    socket.on('data', (chunk: Buffer) => {
      echoed.push(chunk);
      got += chunk.length;
      if (got >= payload.length) ok();
    });
  });
  socket.write(payload);
  await all;
  assert.ok(Buffer.concat(echoed).equals(payload));

  const seen = upstream.upgrades.at(-1)!;
  assert.equal(seen.url, '/socket?room=1');
  assert.deepEqual(rawValues(seen.rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
  assert.deepEqual(rawValues(seen.rawHeaders, 'x-warren-user'), ['alice']);
  assert.deepEqual(rawValues(seen.rawHeaders, 'cookie'), ['pref=1']);
  assert.deepEqual(rawValues(seen.rawHeaders, 'upgrade'), ['websocket']);
  socket.destroy();
});

test('a WebSocket upgrade without an app session is refused on the socket and never reaches the app', async () => {
  const before = upstream.upgrades.length;
  for (const extra of [[], ['Cookie: __Host-warren-app=forged']]) {
    const socket = await tlsTo(`notes.${DOMAIN}`, { ca: env.caPem });
    socket.write(upgradeRequest(`notes.${DOMAIN}`, randomBytes(16).toString('base64'), extra));
    const answer = await readUntil(socket, () => false, 3000);
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.match(answer, /APP_SESSION_REQUIRED/);
  }
  const console = await tlsTo(DOMAIN, { ca: env.caPem });
  console.write(upgradeRequest(DOMAIN, randomBytes(16).toString('base64')));
  assert.match(await readUntil(console, () => false, 3000), /^HTTP\/1\.1 404 /);
  assert.equal(upstream.upgrades.length, before);
});

test('an upgrade to an app that does not switch protocols in time gets 504', async () => {
  const { createServer } = await import('node:net');
  const silent = createServer(() => {}); // accepts and says nothing
  await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
  env.routes.apps.set('silent', {
    kind: 'running',
    host: '127.0.0.1',
    port: (silent.address() as import('node:net').AddressInfo).port,
    urlPath: '/',
  });
  const socket = await tlsTo(`silent.${DOMAIN}`, { ca: env.caPem });
  const started = performance.now();
  socket.write(
    upgradeRequest(`silent.${DOMAIN}`, randomBytes(16).toString('base64'), [
      `Cookie: __Host-warren-app=${env.gate.session('silent', alice)}`,
    ]),
  );
  const answer = await readUntil(socket, () => false, 4000);
  assert.match(answer, /^HTTP\/1\.1 504 /);
  assert.ok(performance.now() - started < 3000);
  silent.close();
});

test('the same wildcard certificate answers the console, apps and unknown SNI names', async () => {
  const fingerprints = new Set<string>();
  for (const name of [DOMAIN, `notes.${DOMAIN}`, 'unknown.example']) {
    const socket = await tlsTo(name);
    fingerprints.add(socket.getPeerCertificate().fingerprint256);
    socket.destroy();
  }
  assert.equal(fingerprints.size, 1);
});

test('setCertificate swaps the served certificate for new connections; a bad pair is refused', async () => {
  const before = await fetchVia(port, env.caPem, DOMAIN, '/');
  const next = await env.ca.issue('cloud', 'cloud-test-2', { hosts: [DOMAIN, `*.${DOMAIN}`] });
  env.gateway.setCertificate({ cert: next.material.cert, key: next.material.key });
  const after = await fetchVia(port, env.caPem, DOMAIN, '/');
  assert.notEqual(after.fingerprint, before.fingerprint);
  const { X509Certificate } = await import('node:crypto');
  assert.equal(after.fingerprint, new X509Certificate(next.material.cert).fingerprint256);

  const other = await env.ca.issue('cloud', 'cloud-test-3', { hosts: [DOMAIN] });
  assert.throws(() => env.gateway.setCertificate({ cert: other.material.cert, key: next.material.key }), {
    code: 'BAD_CERTIFICATE',
  });
  assert.equal(
    (await fetchVia(port, env.caPem, DOMAIN, '/')).fingerprint,
    after.fingerprint,
    'nothing swapped',
  );
});

test('a slowloris client that never finishes its headers is cut at the headers timeout', async () => {
  const socket = await tlsTo(`notes.${DOMAIN}`, { ca: env.caPem });
  const started = performance.now();
  socket.write(`GET / HTTP/1.1\r\nHost: notes.${DOMAIN}\r\nX-Slow: 1\r\n`);
  const drip = setInterval(() => socket.writable && socket.write('X-More: 1\r\n'), 200);
  const answer = await readUntil(socket, () => false, 10_000);
  clearInterval(drip);
  const took = performance.now() - started;
  assert.ok(socket.destroyed || socket.readableEnded, 'the gateway closed the connection');
  assert.ok(
    took >= HEADERS_TIMEOUT_MS - 50 && took < HEADERS_TIMEOUT_MS + 2000,
    `cut after ${Math.round(took)} ms`,
  );
  assert.ok(answer === '' || /^HTTP\/1\.1 408 /.test(answer), answer);
});
