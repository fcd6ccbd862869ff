import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { totpCode } from '../../src/cloud/auth/totp.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import {
  ADMIN_PASSWORD,
  cloudDatabaseKinds,
  makeUser,
  startCloudApi,
  stopCloudPostgres,
  withCloudApi,
} from './helpers-auth.js';

after(async () => {
  await stopCloudPostgres();
  cleanupTempDirs();
});

for (const { kind, skip } of cloudDatabaseKinds()) {
  describe(`cloud accounts on ${kind}`, { skip }, () => {
    test('the first start makes admin with a one-time password that must be changed; no default password', async () => {
      await withCloudApi(
        kind,
        async (api) => {
          const password = api.oneTimePassword;
          assert.match(password ?? '', /^[A-Za-z0-9_-]{32}$/);
          assert.equal((await api.users.bootstrapAdmin()).created, false, 'only on an empty instance');
          const admin = await api.login('admin', password!);
          assert.equal(admin.user.must_change_password, true);
          // Until it is changed, nothing but the password change, /me, sessions and logout.
          const users = await api.call('GET', '/api/v1/users', { session: admin });
          assert.equal(users.status, 403);
          assert.equal(users.body.error.code, 'PASSWORD_CHANGE_REQUIRED');
          assert.equal((await api.call('GET', '/api/v1/me', { session: admin })).status, 200);
          const changed = await api.call('POST', '/api/v1/me/password', {
            session: admin,
            body: { current_password: password, new_password: 'a brand new admin password' },
          });
          assert.equal(changed.status, 204, changed.text);
          assert.equal((await api.call('GET', '/api/v1/users', { session: admin })).status, 200);
          const again = await api.call('POST', '/api/v1/login', { body: { name: 'admin', password } });
          assert.equal(again.status, 401, 'the one-time password is gone');
        },
        { adminPasswordFile: false },
      );
    });

    test('every answer of the console host, a 404 or an error too, is neither framed, sniffed nor cached', async () => {
      await withCloudApi(kind, async (api) => {
        for (const [path, status] of [
          ['/api/v1/no-such-route', 404],
          ['/api/v1/me', 401],
        ] as const) {
          const answer = await api.call('GET', path);
          assert.equal(answer.status, status);
          assert.equal(
            answer.headers['content-security-policy'],
            "default-src 'none'; frame-ancestors 'none'",
          );
          assert.equal(answer.headers['x-content-type-options'], 'nosniff');
          assert.equal(answer.headers['cache-control'], 'no-store');
        }
      });
    });

    test('the admin password file is used (trailing newline dropped) and must be owner-only', async () => {
      const dir = tempDir('warren-cloud-pw-');
      const open = join(dir, 'open');
      writeFileSync(open, 'an admin password from a file\n', { mode: 0o644 });
      await assert.rejects(startCloudApi({ database: kind, adminPasswordFile: open }), /ADMIN|mode 0644/);
      const short = join(dir, 'short');
      writeFileSync(short, 'short\n', { mode: 0o600 });
      await assert.rejects(startCloudApi({ database: kind, adminPasswordFile: short }), /at least 12/);
      const good = join(dir, 'good');
      writeFileSync(good, 'an admin password from a file\n', { mode: 0o600 });
      await withCloudApi(
        kind,
        async (api) => {
          assert.equal(api.oneTimePassword, undefined);
          const admin = await api.login('admin', 'an admin password from a file');
          assert.equal(admin.user.must_change_password, false);
          assert.equal(admin.user.role, 'admin');
          assert.equal(statSync(join(api.data, 'cloud-secret')).mode & 0o777, 0o600);
        },
        { adminPasswordFile: good },
      );
    });

    test('login sets a __Host- cookie; logout ends the session; wrong password 401; /me answers the CSRF token', async () => {
      await withCloudApi(kind, async (api) => {
        const res = await api.call('POST', '/api/v1/login', {
          body: { name: 'admin', password: ADMIN_PASSWORD },
        });
        assert.equal(res.status, 200, res.text);
        const cookie = String(res.headers['set-cookie']);
        assert.match(
          cookie,
          /^__Host-warren-session=wcs_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=604800; Secure; HttpOnly; SameSite=Strict$/,
        );
        assert.deepEqual(Object.keys(res.body.user).sort(), [
          'id',
          'must_change_password',
          'name',
          'role',
          'totp',
        ]);
        const session = { cookie: cookie.split(';')[0]!, csrf: res.body.csrf_token as string };
        const me = await api.call('GET', '/api/v1/me', { session });
        assert.equal(me.body.user.name, 'admin');
        assert.equal(me.body.csrf_token, session.csrf);

        const wrong = await api.call('POST', '/api/v1/login', {
          body: { name: 'admin', password: 'not the password!' },
        });
        assert.equal(wrong.status, 401);
        assert.equal(wrong.body.error.code, 'INVALID_CREDENTIALS');
        const nobody = await api.call('POST', '/api/v1/login', {
          body: { name: 'nobody', password: 'not the password!' },
        });
        assert.equal(nobody.body.error.code, 'INVALID_CREDENTIALS', 'an unknown name looks the same');

        const out = await api.call('POST', '/api/v1/logout', { session });
        assert.equal(out.status, 204);
        assert.match(String(out.headers['set-cookie']), /^__Host-warren-session=; Path=\/; Max-Age=0;/);
        assert.equal((await api.call('GET', '/api/v1/me', { session })).status, 401);
        const rows = await api.db.selectFrom('sessions').select('id').execute();
        assert.equal(rows.length, 0, 'the session row is gone');
        const audit = await api.db.selectFrom('audit_log').select(['action', 'detail']).execute();
        assert.ok(audit.some((a) => a.action === 'auth.login'));
        assert.ok(audit.every((a) => !a.detail.includes(ADMIN_PASSWORD) && !a.detail.includes('wcs_')));
      });
    });

    test('failed logins are limited per user name and per address (429 with Retry-After, even with the right password)', async () => {
      await withCloudApi(kind, async (api) => {
        for (let i = 0; i < 5; i++) {
          const address = `10.0.0.${i + 1}`;
          const res = await api.call('POST', '/api/v1/login', {
            body: { name: 'admin', password: 'wrong password!!' },
            address,
          });
          assert.equal(res.status, 401);
        }
        const limited = await api.call('POST', '/api/v1/login', {
          body: { name: 'admin', password: ADMIN_PASSWORD },
          address: '10.0.0.99',
        });
        assert.equal(limited.status, 429, 'per name, from a new address too');
        assert.equal(limited.body.error.code, 'RATE_LIMITED');
        assert.ok(Number(limited.headers['retry-after']) > 0);
        api.clock.advance(61_000);
        await api.login('admin', ADMIN_PASSWORD, { address: '10.0.0.99' });

        // Per address: 20 failures with different names from one address.
        for (let i = 0; i < 20; i++) {
          await api.call('POST', '/api/v1/login', {
            body: { name: `guess${i}`, password: 'wrong password!!' },
            address: '10.9.9.9',
          });
        }
        const fromAddress = await api.call('POST', '/api/v1/login', {
          body: { name: 'admin', password: ADMIN_PASSWORD },
          address: '10.9.9.9',
        });
        assert.equal(fromAddress.status, 429);
        await api.login('admin', ADMIN_PASSWORD, { address: '10.9.9.10' });
      });
    });

    test('a password change ends the other sessions, keeps this one, and checks the current password', async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const bob = await makeUser(api, admin, 'bob');
        const otherBob = await api.login('bob', bob.password);
        const wrong = await api.call('POST', '/api/v1/me/password', {
          session: bob,
          body: { current_password: 'not my password', new_password: 'bobs new password 1' },
        });
        assert.equal(wrong.status, 403);
        assert.equal(wrong.body.error.code, 'WRONG_PASSWORD');
        const weak = await api.call('POST', '/api/v1/me/password', {
          session: bob,
          body: { current_password: bob.password, new_password: 'short' },
        });
        assert.equal(weak.body.error.code, 'PASSWORD_TOO_SHORT');
        assert.equal((await api.call('GET', '/api/v1/me', { session: otherBob })).status, 200);
        const ok = await api.call('POST', '/api/v1/me/password', {
          session: bob,
          body: { current_password: bob.password, new_password: 'bobs new password 1' },
        });
        assert.equal(ok.status, 204, ok.text);
        assert.equal((await api.call('GET', '/api/v1/me', { session: otherBob })).status, 401);
        assert.equal((await api.call('GET', '/api/v1/me', { session: bob })).status, 200);
        await api.login('bob', 'bobs new password 1');
        assert.equal(
          (await api.call('GET', '/api/v1/me', { session: admin })).status,
          200,
          "others' sessions stay",
        );
      });
    });

    test('TOTP: setup shown once, confirm with a code, login requires it, a replayed code is refused', async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const hal = await makeUser(api, admin, 'hal');
        const setup = await api.call('POST', '/api/v1/me/totp', { session: hal });
        assert.equal(setup.status, 200, setup.text);
        const secret: string = setup.body.secret;
        assert.match(secret, /^[A-Z2-7]{32}$/);
        assert.match(setup.body.otpauth_url, /^otpauth:\/\/totp\/Warren:hal\?secret=/);
        const bad = await api.call('POST', '/api/v1/me/totp/confirm', {
          session: hal,
          body: { code: '000000' },
        });
        assert.equal(bad.status, 400);
        const now = api.clock.now();
        const confirm = await api.call('POST', '/api/v1/me/totp/confirm', {
          session: hal,
          body: { code: totpCode(secret, now) },
        });
        assert.equal(confirm.status, 204, confirm.text);
        const needs = await api.call('POST', '/api/v1/login', {
          body: { name: 'hal', password: hal.password },
        });
        assert.equal(needs.status, 401);
        assert.equal(needs.body.error.code, 'TOTP_REQUIRED');
        const replay = await api.call('POST', '/api/v1/login', {
          body: { name: 'hal', password: hal.password, totp: totpCode(secret, now) },
        });
        assert.equal(replay.status, 401, 'the code used to confirm cannot sign in');
        assert.equal(replay.body.error.code, 'INVALID_CREDENTIALS');
        api.clock.advance(30_000);
        const code = totpCode(secret, api.clock.now());
        const ok = await api.login('hal', hal.password, { totp: code });
        assert.equal(ok.user.totp, true);
        const twice = await api.call('POST', '/api/v1/login', {
          body: { name: 'hal', password: hal.password, totp: code },
        });
        assert.equal(twice.status, 401, 'the same code a second time');
        const wrongPassword = await api.call('DELETE', '/api/v1/me/totp', {
          session: ok,
          body: { password: 'nope nope nope' },
        });
        assert.equal(wrongPassword.status, 403);
        const off = await api.call('DELETE', '/api/v1/me/totp', {
          session: ok,
          body: { password: hal.password },
        });
        assert.equal(off.status, 204);
        await api.login('hal', hal.password);
        const row = await api.db
          .selectFrom('users')
          .select(['totp_secret'])
          .where('name', '=', 'hal')
          .executeTakeFirstOrThrow();
        assert.equal(row.totp_secret, null);
        const listed = await api.call('GET', '/api/v1/users', { session: admin });
        assert.ok(
          listed.body.items.every(
            (u: Record<string, unknown>) => !('totp_secret' in u) && !('password_hash' in u),
          ),
        );
      });
    });

    test('strict validation: an unknown body property or a bad value is 400 and changes nothing', async () => {
      await withCloudApi(kind, async (api) => {
        const admin = await api.login('admin', ADMIN_PASSWORD);
        const extra = await api.call('POST', '/api/v1/invitations', {
          session: admin,
          body: { role: 'user', admin: true },
        });
        assert.equal(extra.status, 400);
        assert.equal(extra.body.error.code, 'BAD_REQUEST');
        const role = await api.call('POST', '/api/v1/invitations', {
          session: admin,
          body: { role: 'root' },
        });
        assert.equal(role.status, 400);
        const count = await api.db.selectFrom('invitations').select('id').execute();
        assert.equal(count.length, 0);
        const login = await api.call('POST', '/api/v1/login', {
          body: { name: 'admin', password: ADMIN_PASSWORD, remember: true },
        });
        assert.equal(login.status, 400);
        const patch = await api.call('PATCH', `/api/v1/users/${admin.user.id}`, {
          session: admin,
          body: { role: 'admin', name: 'root' },
        });
        assert.equal(patch.status, 400);
        const me = await api.call('GET', '/api/v1/me', { session: admin });
        assert.equal(me.body.user.name, 'admin');
      });
    });
  });
}
