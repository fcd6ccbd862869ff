import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { cleanupTempDirs } from '../helpers/tmp.js';
import {
  ADMIN_PASSWORD,
  cloudDatabaseKinds,
  makeUser,
  stopCloudPostgres,
  withCloudApi,
} from './helpers-auth.js';

after(async () => {
  await stopCloudPostgres();
  cleanupTempDirs();
});

const HOUR = 3_600_000;

for (const { kind, skip } of cloudDatabaseKinds()) {
  describe(`cloud sessions and CSRF on ${kind}`, { skip }, () => {
    test('a session ends after 12 h unused, and after 7 days however much it is used', async () => {
      await withCloudApi(kind, async (api) => {
        const idle = await api.login('admin', ADMIN_PASSWORD);
        const busy = await api.login('admin', ADMIN_PASSWORD);
        api.clock.advance(11 * HOUR);
        assert.equal((await api.call('GET', '/api/v1/me', { session: busy })).status, 200);
        api.clock.advance(2 * HOUR);
        assert.equal((await api.call('GET', '/api/v1/me', { session: idle })).status, 401, 'idle for 13 h');
        // Used every 11 h, the busy one lives until its 7 days are over.
        for (let hours = 13; hours < 7 * 24 - 11; hours += 11) {
          assert.equal((await api.call('GET', '/api/v1/me', { session: busy })).status, 200, `at ${hours} h`);
          api.clock.advance(11 * HOUR);
        }
        assert.equal((await api.call('GET', '/api/v1/me', { session: busy })).status, 200);
        api.clock.advance(11 * HOUR);
        const dead = await api.call('GET', '/api/v1/me', { session: busy });
        assert.equal(dead.status, 401, 'past 7 days');
        assert.equal(dead.body.error.code, 'UNAUTHENTICATED');
      });
    });

    test('several sessions are listed; revoking one ends it (its cookie then 401), the others stay', async () => {
      await withCloudApi(kind, async (api) => {
        const a = await api.login('admin', ADMIN_PASSWORD);
        const b = await api.login('admin', ADMIN_PASSWORD);
        const c = await api.login('admin', ADMIN_PASSWORD);
        const list = await api.call('GET', '/api/v1/sessions', {
          session: a,
          headers: { 'user-agent': 'test' },
        });
        assert.equal(list.status, 200);
        assert.equal(list.body.items.length, 3);
        const current = list.body.items.filter((s: { current: boolean }) => s.current);
        assert.equal(current.length, 1);
        for (const s of list.body.items) {
          assert.match(s.id_prefix, /^[0-9a-f]{16}$/);
          assert.equal(s.address, '127.0.0.1');
        }
        const other = list.body.items.find((s: { current: boolean }) => !s.current).id_prefix;
        const revoked = await api.call('DELETE', `/api/v1/sessions/${other}`, { session: a });
        assert.equal(revoked.status, 204, revoked.text);
        const alive = await Promise.all([b, c].map((s) => api.call('GET', '/api/v1/me', { session: s })));
        assert.deepEqual(alive.map((r) => r.status).sort(), [200, 401]);
        assert.equal((await api.call('GET', '/api/v1/sessions', { session: a })).body.items.length, 2);
        const again = await api.call('DELETE', `/api/v1/sessions/${other}`, { session: a });
        assert.equal(again.status, 404);
        // Someone else's session cannot be revoked by its prefix.
        const bob = await makeUser(api, a, 'bob');
        const bobList = await api.call('GET', '/api/v1/sessions', { session: bob });
        const bobs = bobList.body.items[0].id_prefix;
        assert.equal((await api.call('DELETE', `/api/v1/sessions/${bobs}`, { session: a })).status, 404);
        assert.equal((await api.call('GET', '/api/v1/me', { session: bob })).status, 200);
      });
    });

    test('at most 20 sessions per user: the 21st sign-in ends the oldest', async () => {
      await withCloudApi(kind, async (api) => {
        const first = await api.login('admin', ADMIN_PASSWORD);
        for (let i = 0; i < 20; i++) {
          api.clock.advance(1000);
          await api.login('admin', ADMIN_PASSWORD);
        }
        assert.equal((await api.call('GET', '/api/v1/me', { session: first })).status, 401);
        const rows = await api.db.selectFrom('sessions').select('id').execute();
        assert.equal(rows.length, 20);
      });
    });

    test('CSRF: without the token, with a wrong token or from another Origin, a change is refused (403) and nothing changes', async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const attempts = [
          { what: 'no token', session: { cookie: admin.cookie }, origin: undefined },
          { what: 'wrong token', session: { cookie: admin.cookie, csrf: 'x'.repeat(43) }, origin: undefined },
          {
            what: 'another session token',
            session: { cookie: admin.cookie, csrf: 'A'.repeat(43) },
            origin: undefined,
          },
          { what: 'evil origin', session: admin, origin: 'https://evil.example' },
          { what: "an app's origin", session: admin, origin: 'https://notes.cloud.example.test' },
          { what: 'no origin', session: admin, origin: null },
        ];
        for (const a of attempts) {
          const res = await api.call('POST', '/api/v1/invitations', {
            session: a.session,
            origin: a.origin,
            body: { role: 'admin' },
          });
          assert.equal(res.status, 403, a.what);
          assert.equal(res.body.error.code, 'CSRF_REFUSED', a.what);
          const pw = await api.call('POST', '/api/v1/me/password', {
            session: a.session,
            origin: a.origin,
            body: { current_password: ADMIN_PASSWORD, new_password: 'hijacked password 1' },
          });
          assert.equal(pw.status, 403, a.what);
          const del = await api.call('DELETE', `/api/v1/users/${admin.user.id}`, {
            session: a.session,
            origin: a.origin,
          });
          assert.equal(del.status, 403, a.what);
        }
        // A body that would be invalid is never looked at: still 403, not 400.
        const invalid = await api.call('POST', '/api/v1/invitations', {
          session: { cookie: admin.cookie },
          body: { nope: 1 },
        });
        assert.equal(invalid.status, 403);
        assert.equal(
          (await api.db.selectFrom('invitations').select('id').execute()).length,
          0,
          'no invitation made',
        );
        await api.login('admin', ADMIN_PASSWORD); // the password still works
        const logout = await api.call('POST', '/api/v1/logout', { session: { cookie: admin.cookie } });
        assert.equal(logout.status, 403, 'a forged logout does not end the session');
        assert.equal((await api.call('GET', '/api/v1/me', { session: admin })).status, 200);

        // Cross-origin sign-in and join are refused too, and make nothing.
        const login = await api.call('POST', '/api/v1/login', {
          origin: 'https://evil.example',
          body: { name: 'admin', password: ADMIN_PASSWORD },
        });
        assert.equal(login.status, 403);
        assert.equal(login.body.error.code, 'CSRF_REFUSED');
        assert.equal(login.headers['set-cookie'], undefined);
        const inv = await api.call('POST', '/api/v1/invitations', { session: admin, body: { role: 'user' } });
        const join = await api.call('POST', '/api/v1/join', {
          origin: 'https://evil.example',
          body: { code: inv.body.code, name: 'mallory', password: 'mallorys password' },
        });
        assert.equal(join.status, 403);
        const users = await api.db.selectFrom('users').select('name').execute();
        assert.deepEqual(
          users.map((u) => u.name),
          ['admin'],
          'no user created',
        );
        const sessions = await api.db.selectFrom('sessions').select('id').execute();
        assert.equal(sessions.length, 2, 'no session opened by the cross-origin login');
        // With the right Origin and token it works.
        const ok = await api.call('POST', '/api/v1/join', {
          body: { code: inv.body.code, name: 'mallory', password: 'mallorys password' },
        });
        assert.equal(ok.status, 201);
      });
    });

    test('a Bearer credential is not accepted on the console API (401), even with a valid cookie', async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const bearer = await api.call('GET', '/api/v1/me', {
          headers: { authorization: `Bearer ${admin.cookie.split('=')[1]}` },
        });
        assert.equal(bearer.status, 401);
        const both = await api.call('GET', '/api/v1/me', {
          session: admin,
          headers: { authorization: 'Bearer x' },
        });
        assert.equal(both.status, 401);
        const none = await api.call('GET', '/api/v1/users');
        assert.equal(none.status, 401);
        const forged = await api.call('GET', '/api/v1/me', {
          session: { cookie: `__Host-warren-session=wcs_${'A'.repeat(43)}` },
        });
        assert.equal(forged.status, 401);
      });
    });
  });
}
