import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { DOMAIN, fetchVia, rawValues, type Seen, startGateway, startUpstream } from './gateway-fixture.js';

/*
 * The gateway over real TLS on loopback, with real upstream servers: who
 * gets through to an app, what reaches the app, and what the app may send
 * back. Attacks are tried for real and asserted refused with nothing
 * reaching the app.
 */

const alice = { userId: 'u-alice', userName: 'alice' };
let env: Awaited<ReturnType<typeof startGateway>>;
let upstream: Awaited<ReturnType<typeof startUpstream>>;
let port: number;
let notesCookie: string;
let chatCookie: string;

const MAX_BODY = 64 * 1024;

before(async () => {
  env = await startGateway(tempDir('warren-gateway-'), {
    upstreamResponseTimeoutMs: 800,
    upstreamConnectTimeoutMs: 800,
    upstreamIdleTimeoutMs: 800,
    maxBodyBytes: MAX_BODY,
  });
  upstream = await startUpstream();
  port = env.gateway.address.https.port;
  env.routes.apps.set('notes', {
    kind: 'running',
    host: '127.0.0.1',
    port: upstream.port,
    urlPath: '/welcome',
  });
  env.routes.apps.set('chat', { kind: 'running', host: '127.0.0.1', port: upstream.port, urlPath: '/' });
  notesCookie = env.gate.session('notes', alice);
  chatCookie = env.gate.session('chat', alice);
});

after(async () => {
  await env?.gateway.stop();
  upstream?.server.close();
  upstream?.server.closeAllConnections();
  cleanupTempDirs();
});

const get = (host: string, path: string, options?: Parameters<typeof fetchVia>[4]) =>
  fetchVia(port, env.caPem, host, path, options);
const notes = `notes.${DOMAIN}`;
const cookie = (value: string) => `__Host-warren-app=${value}`;

/** Runs `work` and returns what the upstream saw meanwhile. */
async function seenDuring(work: () => Promise<unknown>): Promise<Seen[]> {
  const before = upstream.seen.length;
  await work();
  return upstream.seen.slice(before);
}

test('the console host goes to the console handler; foreign and multi-label hosts are refused', async () => {
  const console = await get(DOMAIN, '/');
  assert.equal(console.status, 200);
  assert.equal(console.text, 'console');
  assert.equal((await get('evil.example', '/', { servername: DOMAIN })).status, 421);
  const deep = await get(`a.b.${DOMAIN}`, '/', { servername: DOMAIN });
  assert.equal(deep.status, 404);
  assert.match(deep.headers['content-type'] as string, /text\/html/);
});

test('a request without an app cookie is refused: 401 JSON for an API client, 302 to the console for a browser', async () => {
  const seen = await seenDuring(async () => {
    const api = await get(notes, '/api/items');
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.text).error.code, 'APP_SESSION_REQUIRED');
    const browser = await get(notes, '/', { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(browser.status, 302);
    assert.equal(browser.headers.location, `https://${DOMAIN}:${port}/#/open/notes`);
    const post = await get(notes, '/', { method: 'POST', headers: { accept: 'text/html' }, body: 'x' });
    assert.equal(post.status, 401, 'only a navigation is redirected');
    const forged = await get(notes, '/', { headers: { cookie: cookie('made-up') } });
    assert.equal(forged.status, 401);
  });
  assert.deepEqual(seen, [], 'nothing reached the app');
});

test("another app's cookie is refused", async () => {
  const seen = await seenDuring(async () => {
    const answer = await get(notes, '/', { headers: { cookie: cookie(chatCookie) } });
    assert.equal(answer.status, 401);
  });
  assert.deepEqual(seen, []);
  // …while it works on its own app.
  assert.equal((await get(`chat.${DOMAIN}`, '/', { headers: { cookie: cookie(chatCookie) } })).status, 200);
});

test("another app of the same site cannot use the visitor's cookie: cross-origin posts, fetches and WebSockets refused", async () => {
  // All apps are one site for the browser, so it sends notes' Lax cookie on
  // requests a page of chat makes to notes: the gateway must refuse them.
  const fromChat = { origin: `https://chat.${DOMAIN}:${port}`, cookie: cookie(notesCookie) };
  const seen = await seenDuring(async () => {
    const post = await get(notes, '/api/delete-everything', {
      method: 'POST',
      headers: { ...fromChat, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' },
      body: 'x=1',
    });
    assert.equal(post.status, 403, post.text);
    assert.match(post.text, /CROSS_ORIGIN_REFUSED/);
    const fetched = await get(notes, '/api/secrets', {
      headers: { ...fromChat, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' },
    });
    assert.equal(fetched.status, 403);
    // An older browser without Fetch Metadata: its Origin gives the post away.
    const legacy = await get(notes, '/api/delete-everything', {
      method: 'POST',
      headers: fromChat,
      body: 'x=1',
    });
    assert.equal(legacy.status, 403);
    const socket = await get(notes, '/ws', {
      headers: {
        ...fromChat,
        'sec-fetch-site': 'same-site',
        'sec-fetch-mode': 'websocket',
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      },
    }).catch((err: Error) => ({ status: 0, text: err.message }));
    assert.notEqual(socket.status, 101);
  });
  assert.deepEqual(seen, [], 'nothing reached the app');
  // The app's own requests and a plain link to it still work.
  const own = await get(notes, '/api/save', {
    method: 'POST',
    headers: {
      origin: `https://${notes}:${port}`,
      cookie: cookie(notesCookie),
      'sec-fetch-site': 'same-origin',
      'sec-fetch-mode': 'cors',
    },
    body: 'x=1',
  });
  assert.equal(own.status, 200, own.text);
  const link = await get(notes, '/', {
    headers: { cookie: cookie(notesCookie), 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' },
  });
  assert.equal(link.status, 200);
});

test('a handoff sets a host-only app cookie once; a reused or foreign secret gets 403 and no cookie', async () => {
  const secret = env.gate.handoff('notes', alice);
  const first = await get(notes, `/.warren/handoff?secret=${secret}`);
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, '/welcome');
  const [setCookie] = first.headers['set-cookie'] as string[];
  assert.match(
    setCookie!,
    /^__Host-warren-app=[A-Za-z0-9_-]+; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600$/,
  );
  assert.doesNotMatch(setCookie!, /Domain/i);
  const value = /^__Host-warren-app=([^;]+)/.exec(setCookie!)![1]!;
  assert.equal(
    (await get(notes, '/', { headers: { cookie: cookie(value) } })).status,
    200,
    'the new cookie opens the app',
  );

  const seen = await seenDuring(async () => {
    const reused = await get(notes, `/.warren/handoff?secret=${secret}`);
    assert.equal(reused.status, 403);
    assert.equal(reused.headers['set-cookie'], undefined);
    assert.match(reused.text, /already used, has expired or is for another app/);
    const forChat = env.gate.handoff('chat', alice);
    const wrongApp = await get(notes, `/.warren/handoff?secret=${forChat}`);
    assert.equal(wrongApp.status, 403);
    assert.equal(wrongApp.headers['set-cookie'], undefined);
    assert.equal((await get(notes, '/.warren/handoff')).status, 403);
    assert.equal(
      (await get(notes, `/.warren/handoff?secret=${env.gate.handoff('notes', alice)}`, { method: 'POST' }))
        .status,
      405,
    );
  });
  assert.deepEqual(seen, []);
  assert.ok(!env.logLines.join('').includes(secret), 'no secret in the log');
  assert.ok(!env.logLines.join('').includes(value), 'no cookie in the log');
});

test('a handoff never redirects off the app host', async () => {
  env.routes.apps.set('evil', {
    kind: 'running',
    host: '127.0.0.1',
    port: upstream.port,
    urlPath: '//evil.example/',
  });
  const answer = await get(`evil.${DOMAIN}`, `/.warren/handoff?secret=${env.gate.handoff('evil', alice)}`);
  assert.equal(answer.status, 303);
  assert.equal(answer.headers.location, '/');
});

test('client-supplied X-Forwarded-*, Forwarded, X-Real-IP and X-Warren-* never reach the app', async () => {
  const answer = await get(notes, '/echo?q=1', {
    headers: {
      cookie: cookie(notesCookie),
      'x-forwarded-for': '198.51.100.9',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'evil.example',
      forwarded: 'for=198.51.100.9;proto=http',
      'x-real-ip': '198.51.100.9',
      'x-warren-user': 'admin',
    },
  });
  assert.equal(answer.status, 200);
  const seen = JSON.parse(answer.text) as Seen;
  assert.equal(seen.url, '/echo?q=1');
  assert.deepEqual(rawValues(seen.rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
  assert.deepEqual(rawValues(seen.rawHeaders, 'x-forwarded-proto'), ['https']);
  assert.deepEqual(rawValues(seen.rawHeaders, 'x-forwarded-host'), [`${notes}:${port}`]);
  assert.deepEqual(rawValues(seen.rawHeaders, 'x-warren-user'), ['alice']);
  assert.deepEqual(rawValues(seen.rawHeaders, 'forwarded'), []);
  assert.deepEqual(rawValues(seen.rawHeaders, 'x-real-ip'), []);
  assert.deepEqual(rawValues(seen.rawHeaders, 'host'), [`${notes}:${port}`]);
});

test('platform cookies and Authorization are stripped, the app cookies kept', async () => {
  const answer = await get(notes, '/', {
    headers: {
      cookie: `theme=dark; __Host-warren-session=console-secret; ${cookie(notesCookie)}; sid=42`,
      authorization: 'Bearer platform-token',
      'proxy-authorization': 'Basic eDp5',
    },
  });
  const seen = JSON.parse(answer.text) as Seen;
  assert.deepEqual(rawValues(seen.rawHeaders, 'cookie'), ['theme=dark; sid=42']);
  assert.deepEqual(rawValues(seen.rawHeaders, 'authorization'), []);
  assert.deepEqual(rawValues(seen.rawHeaders, 'proxy-authorization'), []);
  assert.ok(!JSON.stringify(seen).includes(notesCookie));
  assert.ok(!JSON.stringify(seen).includes('console-secret'));
  // Hop-by-hop headers the app names in Connection do not reach the client.
  assert.equal(answer.headers['x-internal'], undefined);
});

test('an app cannot set cookies on the parent domain, a sibling, or the platform cookie names', async () => {
  const answer = await get(notes, '/set-cookies', { headers: { cookie: cookie(notesCookie) } });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.headers['set-cookie'], ['theme=dark; Path=/; Secure']);
});

test('bodies stream both ways unchanged; a body over the limit gets 413 and does not reach the app', async () => {
  const body = randomBytes(MAX_BODY);
  const posted = await get(notes, '/upload', {
    method: 'POST',
    body,
    headers: { cookie: cookie(notesCookie) },
  });
  const seen = JSON.parse(posted.text) as Seen;
  assert.equal(seen.bodyBytes, MAX_BODY);
  assert.equal(seen.bodySha256, createHash('sha256').update(body).digest('hex'));

  const big = await get(notes, `/big?bytes=${5 * 1024 * 1024}`, { headers: { cookie: cookie(notesCookie) } });
  assert.equal(big.body.length, 5 * 1024 * 1024);

  const refused = await seenDuring(async () => {
    const tooBig = await get(notes, '/upload', {
      method: 'POST',
      body: randomBytes(MAX_BODY + 1),
      headers: { cookie: cookie(notesCookie) },
    });
    assert.equal(tooBig.status, 413);
  });
  assert.deepEqual(refused, []);
  // Chunked (no Content-Length), under the limit: passed on whole, framed as chunked.
  const small = randomBytes(1000);
  const chunkedOk = await get(notes, '/upload', {
    method: 'POST',
    body: small,
    headers: { cookie: cookie(notesCookie), 'transfer-encoding': 'chunked' },
  });
  const seenChunked = JSON.parse(chunkedOk.text) as Seen;
  assert.equal(seenChunked.bodySha256, createHash('sha256').update(small).digest('hex'));
  assert.deepEqual(rawValues(seenChunked.rawHeaders, 'transfer-encoding'), ['chunked']);
  // Chunked, past the limit: counted while streaming and cut.
  const chunked = await get(notes, '/upload', {
    method: 'POST',
    body: randomBytes(MAX_BODY * 2),
    headers: { cookie: cookie(notesCookie), 'transfer-encoding': 'chunked' },
  }).catch((err: Error) => ({ status: 0, error: err }));
  assert.ok(chunked.status === 413 || chunked.status === 0, `chunked over the limit: ${chunked.status}`);
  assert.ok(!upstream.seen.some((s) => s.bodyBytes > MAX_BODY), 'the app never got more than the limit');
});

test('a stopped app gets a clear 503 page at once; an app that does not exist here 404', async () => {
  env.routes.apps.set('stopped', {
    kind: 'unavailable',
    status: 'stopped',
    message: 'Stopped by an admin <b>at noon</b>.',
  });
  const stoppedCookie = env.gate.session('stopped', alice);
  const started = performance.now();
  const answer = await get(`stopped.${DOMAIN}`, '/', { headers: { cookie: cookie(stoppedCookie) } });
  assert.ok(performance.now() - started < 1000);
  assert.equal(answer.status, 503);
  assert.equal(answer.headers['retry-after'], '30');
  assert.match(answer.text, /Stopped by an admin &lt;b&gt;at noon&lt;\/b&gt;\./);
  const goneCookie = env.gate.session('gone', alice);
  const gone = await get(`gone.${DOMAIN}`, '/', { headers: { cookie: cookie(goneCookie) } });
  assert.equal(gone.status, 404);
  assert.match(gone.text, /no app gone here/);
});

test('a dead upstream gets 502 quickly; one that never answers 504 after the response timeout', async () => {
  const { createServer } = await import('node:net');
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const deadPort = (probe.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((ok) => probe.close(() => ok()));
  env.routes.apps.set('dead', { kind: 'running', host: '127.0.0.1', port: deadPort, urlPath: '/' });
  const deadCookie = env.gate.session('dead', alice);
  let started = performance.now();
  const dead = await get(`dead.${DOMAIN}`, '/', { headers: { cookie: cookie(deadCookie) } });
  assert.ok(performance.now() - started < 1000, 'no hang');
  assert.equal(dead.status, 502);
  assert.match(dead.text, /not answering/);

  started = performance.now();
  const hung = await get(notes, '/hang', { headers: { cookie: cookie(notesCookie) } });
  const took = performance.now() - started;
  assert.equal(hung.status, 504);
  assert.ok(took >= 700 && took < 3000, `504 after ${took} ms`);
  assert.ok(
    env.logLines.some((l) => l.includes('gateway_upstream_error')),
    'one JSON line per error',
  );
  assert.ok(!env.logLines.join('').includes(notesCookie));
});

test('a response the app stops sending midway is cut after the idle timeout, not held open', async () => {
  const started = performance.now();
  const outcome = await get(notes, '/stall', { headers: { cookie: cookie(notesCookie) } }).then(
    (answer) => `status ${answer.status}, ${answer.body.length} bytes`,
    (err: Error) => `error ${err.message}`,
  );
  const took = performance.now() - started;
  assert.match(outcome, /^error/, outcome);
  assert.ok(took >= 700 && took < 3000, `cut after ${Math.round(took)} ms`);
});

test('an absolute-form request target is refused, not passed to the app', async () => {
  const { connect } = await import('node:tls');
  const socket = connect({ host: '127.0.0.1', port, servername: notes, ca: env.caPem });
  await new Promise<void>((ok, fail) => socket.once('secureConnect', ok).once('error', fail));
  const seen = await seenDuring(async () => {
    socket.write(
      `GET http://evil.example/x HTTP/1.1\r\nHost: ${notes}\r\nCookie: ${cookie(notesCookie)}\r\nConnection: close\r\n\r\n`,
    );
    let text = '';
    for await (const chunk of socket) text += String(chunk);
    assert.match(text, /^HTTP\/1\.1 400 /);
  });
  assert.deepEqual(seen, []);
});

test('oversize request headers get 431', async () => {
  const answer = await get(notes, '/', {
    headers: { cookie: cookie(notesCookie), 'x-pad': 'a'.repeat(17 * 1024) },
  });
  assert.equal(answer.status, 431);
});

test('the HTTP listener only redirects to https on the same host and path', async () => {
  const { request } = await import('node:http');
  const httpPort = env.gateway.address.http!.port;
  const ask = (host: string, method: string, path: string) =>
    new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: httpPort, method, path, headers: { host } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, location: res.headers.location });
      });
      req.on('error', reject);
      req.end();
    });
  assert.deepEqual(await ask(`notes.${DOMAIN}`, 'GET', '/a/b?c=d'), {
    status: 301,
    location: `https://notes.${DOMAIN}:${port}/a/b?c=d`,
  });
  assert.deepEqual(await ask(DOMAIN, 'POST', '/api/v1/login'), {
    status: 308,
    location: `https://${DOMAIN}:${port}/api/v1/login`,
  });
  assert.equal((await ask('evil.example', 'GET', '/')).status, 421, 'never an open redirect');
  const seen = await seenDuring(() => ask(`notes.${DOMAIN}`, 'GET', '/'));
  assert.deepEqual(seen, []);
});
