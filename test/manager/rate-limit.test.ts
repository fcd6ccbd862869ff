import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { createToken, ROOT_PASSWORD, rootSession, userSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { cleanupTempDirs } from '../helpers/tmp.js';

/*
 * Limits answer 429 with Retry-After to the client over its limit while other
 * clients are served. A second client address is a second loopback address
 * (127.0.0.2): the manager sees a different peer, as it would another host.
 */

after(cleanupTempDirs);

const agents: Agent[] = [];
after(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});

/** Calls the manager from `localAddress`. */
function client(m: TestManager, localAddress: string) {
  const agent = new Agent({ connect: { ca: m.caPem }, localAddress, connections: 32 });
  agents.push(agent);
  return async (method: 'GET' | 'POST', path: string, options: { token?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(`${m.api}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      dispatcher: agent,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
      body: (text ? JSON.parse(text) : undefined) as any,
      retryAfter: res.headers['retry-after'] as string | undefined,
    };
  };
}

function assertRetryAfter(value: string | undefined, maxSeconds: number): void {
  assert.ok(value !== undefined, 'a Retry-After header');
  const seconds = Number(value);
  assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= maxSeconds, `Retry-After: ${value}`);
}

for (const { kind, skip } of databaseKinds()) {
  describe(`rate limits on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('failed logins for one user name: 429 even with the right password; other users log in', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { 'auth.loginAttemptsPerMinute': 3 },
      });
      try {
        const root = await rootSession(m);
        const alice = await userSession(m, root, 'alice', 'guest');
        const bob = await userSession(m, root, 'bob', 'guest');
        const here = client(m, '127.0.0.1');
        const elsewhere = client(m, '127.0.0.2');
        const loginAs = (from: typeof here, name: string, password: string) =>
          from('POST', '/api/v1/auth/login', { body: { name, password } });
        for (let i = 0; i < 3; i++)
          assert.equal((await loginAs(here, 'alice', 'wrong-password!')).status, 401);
        const sessionsBefore = await m.manager.ctx.db.selectFrom('sessions').select('token_hash').execute();

        const limited = await loginAs(here, 'alice', alice.password);
        assert.equal(limited.status, 429);
        assert.equal(limited.body.error.code, 'RATE_LIMITED');
        assertRetryAfter(limited.retryAfter, 60);
        assert.equal(
          (await loginAs(elsewhere, 'alice', alice.password)).status,
          429,
          'per user, from anywhere',
        );
        // A password check by change counts as a login attempt too.
        const change = await here('POST', '/api/v1/users/me/password', {
          token: alice.token,
          body: { current_password: alice.password, new_password: 'alice-next-password' },
        });
        assert.equal(change.status, 429);
        const sessionsAfter = await m.manager.ctx.db.selectFrom('sessions').select('token_hash').execute();
        assert.deepEqual(sessionsAfter, sessionsBefore, 'no session was opened');

        assert.equal((await loginAs(here, 'bob', bob.password)).status, 200, 'another user is served');
        assert.equal((await here('GET', '/api/v1/users/me', { token: alice.token })).status, 200);
      } finally {
        await m.stop();
      }
    });

    test('failed logins from one address: 429 there, while another address logs in', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { 'auth.loginAttemptsPerAddress': 3 },
      });
      try {
        await rootSession(m);
        const here = client(m, '127.0.0.1');
        const elsewhere = client(m, '127.0.0.2');
        for (const name of ['ann', 'ben', 'cid']) {
          const res = await here('POST', '/api/v1/auth/login', { body: { name, password: 'guessing-here' } });
          assert.equal(res.status, 401);
        }
        const root = { name: 'root', password: ROOT_PASSWORD };
        const limited = await here('POST', '/api/v1/auth/login', { body: root });
        assert.equal(limited.status, 429);
        assertRetryAfter(limited.retryAfter, 60);
        assert.equal((await elsewhere('POST', '/api/v1/auth/login', { body: root })).status, 200);
      } finally {
        await m.stop();
      }
    });

    test('a burst above rateLimit.perToken gets 429 with Retry-After; another token is served', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { 'rateLimit.perToken': 5 },
      });
      try {
        const root = await rootSession(m);
        const busy = await createToken(m, root, ['read']);
        const calm = await createToken(m, root, ['read']);
        const call = client(m, '127.0.0.1');
        const burst = await Promise.all(
          Array.from({ length: 30 }, () => call('GET', '/api/v1/users/me', { token: busy.token })),
        );
        const limited = burst.filter((r) => r.status === 429);
        const served = burst.filter((r) => r.status === 200);
        assert.equal(limited.length + served.length, 30);
        assert.ok(limited.length >= 1, 'some requests were limited');
        // One-second windows: a burst straddling two gets at most two windows' worth.
        assert.ok(served.length <= 10, `${served.length} served`);
        assert.equal(limited[0]!.body.error.code, 'RATE_LIMITED');
        assertRetryAfter(limited[0]!.retryAfter, 2);
        assert.equal((await call('GET', '/api/v1/users/me', { token: calm.token })).status, 200);
      } finally {
        await m.stop();
      }
    });

    test('a burst above rateLimit.perAddress gets 429 there; another address is served', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { 'rateLimit.perAddress': 10 },
      });
      try {
        const here = client(m, '127.0.0.1');
        const elsewhere = client(m, '127.0.0.2');
        const burst = await Promise.all(Array.from({ length: 40 }, () => here('GET', '/api/v1/health')));
        const limited = burst.filter((r) => r.status === 429);
        assert.ok(limited.length >= 1, 'some requests were limited');
        assert.ok(burst.filter((r) => r.status === 200).length <= 20);
        assertRetryAfter(limited[0]!.retryAfter, 2);
        assert.equal((await elsewhere('GET', '/api/v1/health')).status, 200);
      } finally {
        await m.stop();
      }
    });
  });
}
