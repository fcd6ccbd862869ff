import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { cleanupTempDirs } from '../helpers/tmp.js';
import {
  ADMIN_PASSWORD,
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

async function admins(api: TestCloudApi): Promise<string[]> {
  const rows = await api.db.selectFrom('users').select('id').where('role', '=', 'admin').execute();
  return rows.map((r) => r.id);
}

async function userCount(api: TestCloudApi): Promise<number> {
  const row = await api.db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

for (const { kind, skip } of cloudDatabaseKinds()) {
  describe(`cloud invitations, resets and the last admin on ${kind}`, { skip }, () => {
    test('an invitation is single use, expires, and a refused join does not use it up', async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const inv = await api.call('POST', '/api/v1/invitations', { session: admin, body: { role: 'user' } });
        assert.equal(inv.status, 201);
        assert.match(inv.body.code, /^wci_/);
        assert.equal(inv.body.url, `${api.consoleOrigin}/#/join/${inv.body.code}`);
        const code = inv.body.code;
        const taken = await api.call('POST', '/api/v1/join', {
          body: { code, name: 'admin', password: 'carols password 1' },
        });
        assert.equal(taken.status, 409);
        assert.equal(taken.body.error.code, 'NAME_TAKEN');
        const joined = await api.call('POST', '/api/v1/join', {
          body: { code, name: 'carol', password: 'carols password 1' },
        });
        assert.equal(joined.status, 201, joined.text);
        assert.equal(joined.body.user.role, 'user');
        const reused = await api.call('POST', '/api/v1/join', {
          body: { code, name: 'dave', password: 'daves password 12' },
        });
        assert.equal(reused.status, 403);
        assert.equal(reused.body.error.code, 'INVITATION_INVALID');
        const guessed = await api.call('POST', '/api/v1/join', {
          body: { code: 'wci_guessed', name: 'dave', password: 'daves password 12' },
        });
        assert.equal(guessed.body.error.code, 'INVITATION_INVALID');
        const old = await api.call('POST', '/api/v1/invitations', {
          session: admin,
          body: { role: 'admin' },
        });
        api.clock.advance(7 * 86_400_000 + 1000);
        const late = await api.call('POST', '/api/v1/join', {
          body: { code: old.body.code, name: 'dave', password: 'daves password 12' },
        });
        assert.equal(late.body.error.code, 'INVITATION_INVALID');
        assert.equal(await userCount(api), 2, 'admin and carol only');
        // A user may not invite.
        const carol = await api.login('carol', 'carols password 1');
        const denied = await api.call('POST', '/api/v1/invitations', {
          session: carol,
          body: { role: 'admin' },
        });
        assert.equal(denied.status, 403);
        const audit = await api.db.selectFrom('audit_log').select('detail').execute();
        assert.ok(
          audit.every((a) => !a.detail.includes(code)),
          'the code is never in the audit log',
        );
      });
    });

    test("an admin reset gives a one-time password, ends the user's sessions and asks for a change", async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const erin = await makeUser(api, admin, 'erin');
        const reset = await api.call('POST', `/api/v1/users/${erin.id}/reset-password`, { session: admin });
        assert.equal(reset.status, 200, reset.text);
        assert.match(reset.body.password, /^[A-Za-z0-9_-]{32}$/);
        assert.equal((await api.call('GET', '/api/v1/me', { session: erin })).status, 401);
        assert.equal(
          (await api.call('POST', '/api/v1/login', { body: { name: 'erin', password: erin.password } }))
            .status,
          401,
        );
        const again = await api.login('erin', reset.body.password);
        assert.equal(again.user.must_change_password, true);
        const byUser = await api.call('POST', `/api/v1/users/${admin.user.id}/reset-password`, {
          session: again,
        });
        assert.equal(byUser.status, 403);
        const audit = await api.db.selectFrom('audit_log').select('detail').execute();
        assert.ok(audit.every((a) => !a.detail.includes(reset.body.password)));
      });
    });

    test('the last admin can be neither demoted nor deleted (409), not even by two demotions at once', async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const demote = await api.call('PATCH', `/api/v1/users/${admin.user.id}`, {
          session: admin,
          body: { role: 'user' },
        });
        assert.equal(demote.status, 409);
        assert.equal(demote.body.error.code, 'LAST_ADMIN');
        const remove = await api.call('DELETE', `/api/v1/users/${admin.user.id}`, { session: admin });
        assert.equal(remove.body.error.code, 'LAST_ADMIN');

        const gina = await makeUser(api, admin, 'gina');
        const byUser = await api.call('DELETE', `/api/v1/users/${admin.user.id}`, { session: gina });
        assert.equal(byUser.status, 403, 'a user may not delete anyone');
        const frank = await makeUser(api, admin, 'frank', 'admin');
        // Through the API: each demotes the other at the same moment. The one
        // that comes second is refused (409, or 403 once its caller is no admin).
        const results = await Promise.all([
          api.call('PATCH', `/api/v1/users/${frank.id}`, { session: admin, body: { role: 'user' } }),
          api.call('PATCH', `/api/v1/users/${admin.user.id}`, { session: frank, body: { role: 'user' } }),
        ]);
        const statuses = results.map((r) => r.status).sort();
        assert.equal(statuses[0], 200, results.map((r) => r.text).join(' | '));
        assert.ok([403, 409].includes(statuses[1]!), results.map((r) => r.text).join(' | '));
        assert.equal((await admins(api)).length, 1);

        // In the service, where both transactions really overlap: one of two
        // concurrent demotions (then deletions) of the two admins fails with LAST_ADMIN.
        const both = [admin.user.id, frank.id];
        for (let round = 0; round < 4; round++) {
          for (const id of both) await api.users.setRole(id, 'admin');
          const remove = round === 3;
          const settled = await Promise.allSettled(
            both.map((id) => (remove ? api.users.remove(id) : api.users.setRole(id, 'user'))),
          );
          const refused = settled.filter((r) => r.status === 'rejected');
          assert.equal(refused.length, 1, `round ${round}`);
          assert.equal((refused[0] as PromiseRejectedResult).reason.code, 'LAST_ADMIN');
          assert.equal((await admins(api)).length, 1, `round ${round}`);
        }
        assert.equal(await userCount(api), 2, 'one admin and gina are left');
      });
    });
  });
}
