import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { cleanupTempDirs } from '../helpers/tmp.js';
import {
  ADMIN_PASSWORD,
  type ConsoleSession,
  cloudDatabaseKinds,
  makeUser,
  stopCloudPostgres,
  type TestCloudApi,
  withCloudApi,
} from './helpers-auth.js';

after(async () => {
  await stopCloudPostgres();
  cleanupTempDirs();
});

/** Asks the console for a handoff and returns its secret. */
async function handoff(api: TestCloudApi, session: ConsoleSession, appId: string): Promise<string> {
  const res = await api.call('POST', `/api/v1/apps/${appId}/handoff`, { session });
  assert.equal(res.status, 200, res.text);
  const url = new URL(res.body.url);
  assert.equal(url.origin, `https://${appId}.${api.domain}`);
  assert.equal(url.pathname, '/.warren/handoff');
  return url.searchParams.get('secret')!;
}

/** Opens `appId` as `session`: handoff, redeem; returns the app cookie's value. */
async function openApp(api: TestCloudApi, session: ConsoleSession, appId: string): Promise<string> {
  const redeemed = await api.appSessions.redeemHandoff(appId, await handoff(api, session, appId));
  assert.ok(redeemed, 'the handoff is redeemed');
  return redeemed.cookieValue;
}

for (const { kind, skip } of cloudDatabaseKinds()) {
  describe(`cloud app handoffs, app sessions and access on ${kind}`, { skip }, () => {
    test('a handoff is single use, for its app only, and lives 60 s', async () => {
      await withCloudApi(kind, async (api) => {
        await api.addApp('notes');
        await api.addApp('wiki');
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const secret = await handoff(api, admin, 'notes');
        assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
        const first = await api.appSessions.redeemHandoff('notes', secret);
        assert.ok(first);
        assert.match(first.cookieValue, /^[A-Za-z0-9_-]{43}$/);
        assert.ok(
          first.maxAgeSeconds > 6 * 86_400 && first.maxAgeSeconds <= 7 * 86_400,
          'dies with the console session',
        );
        assert.equal(await api.appSessions.redeemHandoff('notes', secret), undefined, 'reused');

        const forWiki = await handoff(api, admin, 'wiki');
        assert.equal(await api.appSessions.redeemHandoff('notes', forWiki), undefined, 'another app');
        assert.equal(
          await api.appSessions.redeemHandoff('wiki', forWiki),
          undefined,
          'used up by the failed try',
        );

        const late = await handoff(api, admin, 'notes');
        api.clock.advance(61_000);
        assert.equal(await api.appSessions.redeemHandoff('notes', late), undefined, 'expired');
        assert.equal(await api.appSessions.redeemHandoff('notes', 'guessed'), undefined);
        const rows = await api.db.selectFrom('app_sessions').select('id').execute();
        assert.equal(rows.length, 1, 'only the first redemption made an app session');
        assert.notEqual(rows[0]!.id, first.cookieValue, 'stored hashed');
      });
    });

    test('a handoff redeemed after sign-out is refused', async () => {
      await withCloudApi(kind, async (api) => {
        await api.addApp('notes');
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const secret = await handoff(api, admin, 'notes');
        assert.equal((await api.call('POST', '/api/v1/logout', { session: admin })).status, 204);
        assert.equal(await api.appSessions.redeemHandoff('notes', secret), undefined);
      });
    });

    test('handoff: 404 for an app not installed, 403 for a user without access', async () => {
      await withCloudApi(kind, async (api) => {
        await api.addApp('notes', 'chosen');
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const bob = await makeUser(api, admin, 'bob');
        const missing = await api.call('POST', '/api/v1/apps/nothing/handoff', { session: admin });
        assert.equal(missing.status, 404);
        assert.equal(missing.body.error.code, 'APP_NOT_FOUND');
        const refused = await api.call('POST', '/api/v1/apps/notes/handoff', { session: bob });
        assert.equal(refused.status, 403);
        assert.equal(refused.body.error.code, 'APP_FORBIDDEN');
        assert.equal(api.appSessions.sizes.handoffs, 0, 'no handoff was made');
        const bad = await api.call('POST', '/api/v1/apps/Bad_Id/handoff', { session: admin });
        assert.equal(bad.status, 400);
        await openApp(api, admin, 'notes'); // admins always may
        const forbidden = await api.call('GET', '/api/v1/apps/notes/access', { session: bob });
        assert.equal(forbidden.status, 403, 'only admins see or set access');
      });
    });

    test('visitor(): the user behind an app cookie, for that app only; ends at once on sign-out', async () => {
      await withCloudApi(kind, async (api) => {
        await api.addApp('notes');
        await api.addApp('wiki');
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const bob = await makeUser(api, admin, 'bob');
        const cookie = await openApp(api, bob, 'notes');
        assert.deepEqual(await api.appSessions.visitor('notes', cookie), { userId: bob.id, userName: 'bob' });
        assert.equal(await api.appSessions.visitor('wiki', cookie), undefined, "another app's cookie");
        assert.equal(await api.appSessions.visitor('notes', 'A'.repeat(43)), undefined);
        // Cached now: sign-out must still end it immediately.
        assert.ok(await api.appSessions.visitor('notes', cookie));
        assert.equal((await api.call('POST', '/api/v1/logout', { session: bob })).status, 204);
        assert.equal(await api.appSessions.visitor('notes', cookie), undefined);
        const rows = await api.db.selectFrom('app_sessions').select('id').execute();
        assert.equal(rows.length, 0, 'the app session went with its console session');
      });
    });

    test('visitor() is refused after access is revoked, the user deleted, the session revoked or idle, a password change', async () => {
      await withCloudApi(kind, async (api) => {
        await api.addApp('notes');
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const carol = await makeUser(api, admin, 'carol');
        // Access revoked: mode 'chosen' without carol.
        let cookie = await openApp(api, carol, 'notes');
        assert.ok(await api.appSessions.visitor('notes', cookie));
        const revoke = await api.call('PUT', '/api/v1/apps/notes/access', {
          session: admin,
          body: { mode: 'chosen', user_ids: [] },
        });
        assert.equal(revoke.status, 200, revoke.text);
        assert.equal(await api.appSessions.visitor('notes', cookie), undefined, 'access revoked');
        const grant = await api.call('PUT', '/api/v1/apps/notes/access', {
          session: admin,
          body: { mode: 'chosen', user_ids: [carol.id] },
        });
        assert.deepEqual(grant.body, { mode: 'chosen', users: [{ id: carol.id, name: 'carol' }] });
        assert.ok(await api.appSessions.visitor('notes', cookie), 'granted again');

        // Session revoked from another of carol's sessions.
        const other = await api.login('carol', carol.password);
        const list = await api.call('GET', '/api/v1/sessions', { session: other });
        const target = list.body.items.find((s: { current: boolean }) => !s.current).id_prefix;
        assert.equal(
          (await api.call('DELETE', `/api/v1/sessions/${target}`, { session: other })).status,
          204,
        );
        assert.equal(await api.appSessions.visitor('notes', cookie), undefined, 'console session revoked');

        // Password change ends the other sessions and their apps.
        cookie = await openApp(api, other, 'notes');
        const third = await api.login('carol', carol.password);
        assert.ok(await api.appSessions.visitor('notes', cookie));
        const changed = await api.call('POST', '/api/v1/me/password', {
          session: third,
          body: { current_password: carol.password, new_password: 'carols new password' },
        });
        assert.equal(changed.status, 204);
        assert.equal(await api.appSessions.visitor('notes', cookie), undefined, 'password changed elsewhere');

        // Idle console session: the app cookie dies with it.
        cookie = await openApp(api, third, 'notes');
        assert.ok(await api.appSessions.visitor('notes', cookie));
        api.clock.advance(13 * 3_600_000);
        assert.equal(await api.appSessions.visitor('notes', cookie), undefined, 'console session idle');

        // User deleted.
        const fresh = await api.login('carol', 'carols new password');
        cookie = await openApp(api, fresh, 'notes');
        assert.ok(await api.appSessions.visitor('notes', cookie));
        const admin2 = await api.login('admin', ADMIN_PASSWORD);
        assert.equal(
          (await api.call('DELETE', `/api/v1/users/${carol.id}`, { session: admin2 })).status,
          204,
        );
        assert.equal(await api.appSessions.visitor('notes', cookie), undefined, 'user deleted');
        const grants = await api.db.selectFrom('app_access').select('user_id').execute();
        assert.equal(grants.length, 0, 'grants went with the user');
      });
    });

    test('using an app keeps the console session from idling out; the cached path is fast', async () => {
      await withCloudApi(kind, async (api) => {
        await api.addApp('notes');
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const cookie = await openApp(api, admin, 'notes');
        for (let i = 0; i < 3; i++) {
          api.clock.advance(10 * 3_600_000);
          assert.ok(await api.appSessions.visitor('notes', cookie), `after ${(i + 1) * 10} h of app use`);
        }
        assert.equal((await api.call('GET', '/api/v1/me', { session: admin })).status, 200);
        const n = 20_000;
        const start = process.hrtime.bigint();
        for (let i = 0; i < n; i++) await api.appSessions.visitor('notes', cookie);
        const perCallUs = Number(process.hrtime.bigint() - start) / n / 1000;
        assert.ok(perCallUs < 50, `a cached visitor() took ${perCallUs.toFixed(1)} µs`);
      });
    });

    test('access: admins always, mode all for every user, chosen for granted users; bad input refused', async () => {
      await withCloudApi(kind, async (api) => {
        await api.addApp('notes');
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const dan = await makeUser(api, admin, 'dan');
        const eve = await makeUser(api, admin, 'eve');
        const view = await api.call('GET', '/api/v1/apps/notes/access', { session: admin });
        assert.deepEqual(view.body, { mode: 'all', users: [] });
        assert.equal(await api.appAccess.mayOpen({ id: eve.id, role: 'user' }, 'notes'), true);
        const set = await api.call('PUT', '/api/v1/apps/notes/access', {
          session: admin,
          body: { mode: 'chosen', user_ids: [dan.id] },
        });
        assert.equal(set.status, 200);
        assert.equal(await api.appAccess.mayOpen({ id: dan.id, role: 'user' }, 'notes'), true);
        assert.equal(await api.appAccess.mayOpen({ id: eve.id, role: 'user' }, 'notes'), false);
        assert.equal(await api.appAccess.mayOpen({ id: admin.user.id, role: 'admin' }, 'notes'), true);
        assert.equal(await api.appAccess.mayOpen({ id: dan.id, role: 'user' }, 'other'), false);
        assert.deepEqual(await api.appAccess.openableAppIds({ id: eve.id, role: 'user' }), []);
        assert.deepEqual(await api.appAccess.openableAppIds({ id: dan.id, role: 'user' }), ['notes']);
        const unknown = await api.call('PUT', '/api/v1/apps/notes/access', {
          session: admin,
          body: { mode: 'chosen', user_ids: ['usr_nobody'] },
        });
        assert.equal(unknown.status, 400);
        assert.equal(unknown.body.error.code, 'USER_NOT_FOUND');
        const extra = await api.call('PUT', '/api/v1/apps/notes/access', {
          session: admin,
          body: { mode: 'all', user_ids: [], everyone: true },
        });
        assert.equal(extra.status, 400);
        const noApp = await api.call('PUT', '/api/v1/apps/ghost/access', {
          session: admin,
          body: { mode: 'all', user_ids: [] },
        });
        assert.equal(noApp.status, 404);
        assert.deepEqual(
          (await api.call('GET', '/api/v1/apps/notes/access', { session: admin })).body,
          {
            mode: 'chosen',
            users: [{ id: dan.id, name: 'dan' }],
          },
          'the refused changes changed nothing',
        );
        const byUser = await api.call('PUT', '/api/v1/apps/notes/access', {
          session: dan,
          body: { mode: 'all', user_ids: [] },
        });
        assert.equal(byUser.status, 403);
        const audit = await api.call('GET', '/api/v1/audit?action=app.access', { session: admin });
        assert.equal(audit.status, 200);
        assert.equal(audit.body.items.length, 1);
        assert.deepEqual(audit.body.items[0].detail, { mode: 'chosen', users: ['dan'] });
      });
    });

    test('waiting handoffs are bounded: beyond the limit the oldest is dropped', async () => {
      await withCloudApi(
        kind,
        async (api) => {
          await api.addApp('notes');
          const admin = await api.login('admin', ADMIN_PASSWORD);
          const secrets = [];
          for (let i = 0; i < 5; i++) secrets.push(await handoff(api, admin, 'notes'));
          assert.equal(api.appSessions.sizes.handoffs, 3);
          assert.equal(await api.appSessions.redeemHandoff('notes', secrets[0]!), undefined, 'dropped');
          assert.ok(await api.appSessions.redeemHandoff('notes', secrets[4]!));
        },
        { settings: { maxHandoffs: 3 } },
      );
    });
  });
}
