import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { sha256Hex } from '../../src/core/auth/secrets.js';
import { ROOT_PASSWORD, rootSession, userSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { runWarren } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

after(cleanupTempDirs);

async function login(m: TestManager, name: string, password: string) {
  return m.call('POST', '/api/v1/auth/login', { body: { name, password } });
}

async function userCount(m: TestManager): Promise<number> {
  const row = await m.manager.ctx.db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Polls `check` until it returns true or `ms` pass. */
async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}

for (const { kind, skip } of databaseKinds()) {
  describe(`users and sessions on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('first start: one root with a one-time password that must be changed before anything else', async () => {
      const database = await databases.next();
      const m = await startTestManager({ database });
      try {
        const oneTime = m.manager.initialRootPassword;
        assert.ok(oneTime, 'a one-time password is returned');
        assert.match(oneTime, /^[A-Za-z0-9_-]{20,}$/);
        assert.equal(await userCount(m), 1);
        const stored = await m.manager.ctx.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
        assert.equal(stored.name, 'root');
        assert.equal(stored.role, 'root');
        assert.match(stored.password_hash, /^\$argon2id\$/);
        assert.ok(!stored.password_hash.includes(oneTime));

        const first = await login(m, 'root', oneTime);
        assert.equal(first.status, 200);
        assert.equal(first.body.user.must_change_password, true);
        assert.match(first.body.token, /^wrs_[A-Za-z0-9_-]{43}$/);
        const session = first.body.token;
        // Only "who am I", logout and the password change serve this session.
        const me = await m.call('GET', '/api/v1/users/me', { token: session });
        assert.equal(me.status, 200);
        assert.equal(me.body.must_change_password, true);
        const tokensBefore = await m.manager.ctx.db.selectFrom('tokens').selectAll().execute();
        for (const [method, path, body] of [
          ['GET', '/api/v1/tokens', undefined],
          ['POST', '/api/v1/tokens', { name: 'x', scopes: ['read'], expires_in: '1d' }],
          ['GET', '/api/v1/users', undefined],
          ['POST', '/api/v1/users', { name: 'eve', role: 'root', password: 'eve-password-1234' }],
        ] as const) {
          const res = await m.call(method, path, { token: session, body });
          assert.equal(res.status, 403, `${method} ${path}`);
          assert.equal(res.body.error.code, 'PASSWORD_CHANGE_REQUIRED');
        }
        assert.deepEqual(await m.manager.ctx.db.selectFrom('tokens').selectAll().execute(), tokensBefore);
        assert.equal(await userCount(m), 1, 'no user was created');

        const change = (current: string, next: string) =>
          m.call('POST', '/api/v1/users/me/password', {
            token: session,
            body: { current_password: current, new_password: next },
          });
        assert.equal((await change('not the password', ROOT_PASSWORD)).body.error.code, 'WRONG_PASSWORD');
        assert.equal((await change(oneTime, 'short')).body.error.code, 'PASSWORD_TOO_SHORT');
        assert.equal((await change(oneTime, oneTime)).body.error.code, 'PASSWORD_UNCHANGED');
        const unchanged = await m.manager.ctx.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
        assert.equal(unchanged.password_hash, stored.password_hash, 'refused changes wrote nothing');
        assert.equal((await change(oneTime, ROOT_PASSWORD)).status, 204);

        assert.equal((await m.call('GET', '/api/v1/tokens', { token: session })).status, 200);
        assert.equal((await login(m, 'root', oneTime)).status, 401, 'the one-time password is gone');
        assert.equal((await login(m, 'root', ROOT_PASSWORD)).body.user.must_change_password, false);
      } finally {
        await m.stop();
      }
      // A restart on the same database neither makes another root nor shows a password.
      const again = await startTestManager({ database, data: m.data });
      try {
        assert.equal(again.manager.initialRootPassword, undefined);
        assert.equal(await userCount(again), 1);
        assert.equal((await login(again, 'root', ROOT_PASSWORD)).status, 200);
      } finally {
        await again.stop();
      }
    });

    test('WARREN_ROOT_PASSWORD_FILE sets the first root password; a weak one stops the start', async () => {
      const dir = tempDir('warren-rootpw-');
      const file = join(dir, 'root-password');
      writeFileSync(file, 'from-a-file-password\n', { mode: 0o600 });
      const m = await startTestManager({
        database: await databases.next(),
        env: { WARREN_ROOT_PASSWORD_FILE: file },
      });
      try {
        assert.equal(m.manager.initialRootPassword, undefined, 'nothing to show');
        const res = await login(m, 'root', 'from-a-file-password');
        assert.equal(res.status, 200);
        assert.equal(res.body.user.must_change_password, false);
      } finally {
        await m.stop();
      }
      writeFileSync(file, 'too short\n');
      await assert.rejects(
        startTestManager({ database: await databases.next(), env: { WARREN_ROOT_PASSWORD_FILE: file } }),
        /rootPasswordFile.*at least 12 characters/,
      );
    });

    test('login, logout and password change: hashed sessions, audited without passwords', async () => {
      const m = await startTestManager({ database: await databases.next() });
      try {
        const root = await rootSession(m);
        const alice = await userSession(m, root, 'alice', 'guest', 'alice-secret-password');
        const wrong = await login(m, 'alice', 'not-her-password');
        const nobody = await login(m, 'nobody', 'not-her-password');
        assert.equal(wrong.status, 401);
        assert.deepEqual(nobody.body, wrong.body, 'an unknown user looks the same as a wrong password');
        assert.equal(wrong.body.error.code, 'INVALID_CREDENTIALS');

        // Sessions are stored as SHA-256 only.
        const rows = await m.manager.ctx.db.selectFrom('sessions').selectAll().execute();
        assert.ok(rows.some((r) => r.token_hash === sha256Hex(alice.token)));
        assert.ok(!JSON.stringify(rows).includes(alice.token.slice(4)));

        const audit = await m.manager.ctx.db.selectFrom('audit_log').selectAll().execute();
        const actions = audit.map((a) => `${a.action} ${a.actor}`);
        assert.ok(actions.includes('auth.login alice'));
        assert.ok(actions.includes('auth.login_failed alice'));
        assert.ok(actions.includes('auth.login_failed nobody'));
        const auditText = JSON.stringify(audit);
        for (const secret of ['alice-secret-password', 'not-her-password', ROOT_PASSWORD, alice.token]) {
          assert.ok(!auditText.includes(secret), 'the audit log holds no password or token');
        }

        // A second session; changing the password from the first ends the second.
        const other = (await login(m, 'alice', 'alice-secret-password')).body.token;
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: other })).status, 200);
        const changed = await m.call('POST', '/api/v1/users/me/password', {
          token: alice.token,
          body: { current_password: 'alice-secret-password', new_password: 'alice-new-password' },
        });
        assert.equal(changed.status, 204);
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: other })).status, 401);
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: alice.token })).status, 200);

        // Sessions per user are bounded: expired ones and all but the newest 100 go at the next login.
        const aliceId = (await m.call('GET', '/api/v1/users/me', { token: alice.token })).body.id;
        const old = (i: number, expiresInMs: number) => ({
          token_hash: sha256Hex(`old-${i}`),
          user_id: aliceId,
          address: '127.0.0.1',
          created_at: new Date(Date.now() - 3_600_000 + i).toISOString(),
          expires_at: new Date(Date.now() + expiresInMs).toISOString(),
          last_used_at: new Date().toISOString(),
        });
        const stale = [old(0, -1_000), ...Array.from({ length: 110 }, (_, i) => old(i + 1, 3_600_000))];
        await m.manager.ctx.db.insertInto('sessions').values(stale).execute();
        const newest = (await login(m, 'alice', 'alice-new-password')).body.token;
        const kept = await m.manager.ctx.db
          .selectFrom('sessions')
          .select('token_hash')
          .where('user_id', '=', aliceId)
          .execute();
        const keptHashes = new Set(kept.map((r) => r.token_hash));
        assert.equal(kept.length, 100);
        assert.ok(keptHashes.has(sha256Hex(newest)) && keptHashes.has(sha256Hex(alice.token)));
        assert.ok(!keptHashes.has(sha256Hex('old-0')), 'the expired one is gone');
        assert.ok(!keptHashes.has(sha256Hex('old-1')), 'the oldest ones are gone');
        assert.ok(keptHashes.has(sha256Hex('old-110')), 'the newest old ones stay');

        const out = await m.call('POST', '/api/v1/auth/logout', { token: alice.token });
        assert.equal(out.status, 204);
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: alice.token })).status, 401);
        assert.equal(
          await m.manager.ctx.db
            .selectFrom('sessions')
            .select('token_hash')
            .where('token_hash', '=', sha256Hex(alice.token))
            .executeTakeFirst(),
          undefined,
        );
      } finally {
        await m.stop();
      }
    });

    test('sessions end after auth.sessionTtl', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { 'auth.sessionTtl': '2s' },
      });
      try {
        const root = await rootSession(m);
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: root })).status, 200);
        await eventually('the session expires', async () => {
          return (await m.call('GET', '/api/v1/users/me', { token: root })).status === 401;
        });
      } finally {
        await m.stop();
      }
    });

    test('users: root manages them; guests read only; the last root stays', async () => {
      const m = await startTestManager({ database: await databases.next() });
      try {
        const root = await rootSession(m);
        const add = (token: string, body: unknown) => m.call('POST', '/api/v1/users', { token, body });
        assert.equal(
          (await add(root, { name: 'Bad Name', role: 'guest', password: 'long-enough-pw' })).status,
          400,
        );
        assert.equal((await add(root, { name: 'bob', role: 'guest', password: 'short' })).status, 400);
        assert.equal(
          (await add(root, { name: 'bob', role: 'admin', password: 'long-enough-pw' })).status,
          400,
        );
        assert.equal(await userCount(m), 1, 'refused creations wrote nothing');
        const bob = await userSession(m, root, 'bob', 'guest');
        const dup = await add(root, { name: 'bob', role: 'root', password: 'long-enough-pw' });
        assert.equal(dup.status, 409);
        assert.equal(dup.body.error.code, 'USER_EXISTS');

        // A guest reads, but cannot manage users.
        const me = await m.call('GET', '/api/v1/users/me', { token: bob.token });
        assert.deepEqual(
          { name: me.body.name, role: me.body.role, kind: me.body.credential.kind },
          { name: 'bob', role: 'guest', kind: 'session' },
        );
        assert.equal((await m.call('GET', '/api/v1/users', { token: bob.token })).status, 403);
        assert.equal(
          (await add(bob.token, { name: 'carol', role: 'root', password: 'long-enough-pw' })).status,
          403,
        );
        assert.equal(await userCount(m), 2);

        // Pages.
        await userSession(m, root, 'carol', 'guest');
        const page1 = await m.call('GET', '/api/v1/users?limit=2', { token: root });
        assert.deepEqual(
          page1.body.items.map((u: { name: string }) => u.name),
          ['bob', 'carol'],
        );
        assert.ok(page1.body.next_cursor);
        assert.ok(!JSON.stringify(page1.body).includes('argon2'), 'no password hash in the list');
        const page2 = await m.call('GET', `/api/v1/users?limit=2&cursor=${page1.body.next_cursor}`, {
          token: root,
        });
        assert.deepEqual(
          page2.body.items.map((u: { name: string }) => u.name),
          ['root'],
        );
        assert.equal(page2.body.next_cursor, null);

        // Promotion takes effect on the guest's existing session at once.
        const rootId = page2.body.items[0].id;
        const promoted = await m.call('PATCH', `/api/v1/users/${bob.id}`, {
          token: root,
          body: { role: 'root' },
        });
        assert.equal(promoted.body.role, 'root');
        assert.equal((await m.call('GET', '/api/v1/users', { token: bob.token })).status, 200);

        // Two roots: one may be demoted; then the other is the last.
        assert.equal(
          (await m.call('PATCH', `/api/v1/users/${bob.id}`, { token: root, body: { role: 'guest' } })).status,
          200,
        );
        assert.equal((await m.call('GET', '/api/v1/users', { token: bob.token })).status, 403);
        const demote = await m.call('PATCH', `/api/v1/users/${rootId}`, {
          token: root,
          body: { role: 'guest' },
        });
        assert.equal(demote.body.error.code, 'LAST_ROOT');
        const remove = await m.call('DELETE', `/api/v1/users/${rootId}`, { token: root });
        assert.equal(remove.body.error.code, 'LAST_ROOT');
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: root })).body.role, 'root');

        // Deleting a user ends their sessions at once.
        assert.equal((await m.call('DELETE', `/api/v1/users/${bob.id}`, { token: root })).status, 200);
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: bob.token })).status, 401);
        assert.equal((await m.call('DELETE', `/api/v1/users/${bob.id}`, { token: root })).status, 404);
        const audit = await m.manager.ctx.db.selectFrom('audit_log').select('action').execute();
        for (const action of ['user.create', 'user.set_role', 'user.delete']) {
          assert.ok(
            audit.some((a) => a.action === action),
            action,
          );
        }
      } finally {
        await m.stop();
      }
    });

    if (kind === 'postgres') {
      test('two replicas starting at once on one database make one root', async () => {
        const database = await databases.next();
        const [a, b] = await Promise.all([startTestManager({ database }), startTestManager({ database })]);
        try {
          const shown = [a.manager.initialRootPassword, b.manager.initialRootPassword].filter(Boolean);
          assert.equal(shown.length, 1, 'exactly one replica created root and shows its password');
          assert.equal(await userCount(a), 1);
          assert.equal((await login(b, 'root', shown[0]!)).status, 200);
        } finally {
          await a.stop();
          await b.stop();
        }
      });
    }
  });
}

/** The environment of a CLI run: its own credentials folder, nothing inherited that names a manager. */
function cliEnv(configHome: string): NodeJS.ProcessEnv {
  return {
    XDG_CONFIG_HOME: configHome,
    WARREN_TOKEN: undefined,
    WARREN_MANAGER: undefined,
    WARREN_CA_FILE: undefined,
  };
}

test('the CLI logs in with the one-time password, changes it, and manages users', async () => {
  const m = await startTestManager();
  try {
    const home = tempDir('warren-cli-');
    const caFile = join(home, 'ca.crt');
    writeFileSync(caFile, m.caPem);
    const oneTime = m.manager.initialRootPassword!;
    const flags = ['--manager', m.api, '--ca-file', caFile];

    const wrong = await warren(
      ['login', ...flags, '--user', 'root', '--password-stdin'],
      'nope-nope-nope\n',
      home,
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong user name or password \[INVALID_CREDENTIALS\]/);

    const first = await warren(
      ['login', ...flags, '--user', 'root', '--password-stdin', '--json'],
      `${oneTime}\n`,
      home,
    );
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout);
    assert.equal(out.user, 'root');
    assert.equal(out.must_change_password, true);
    assert.match(first.stderr, /one-time password.*warren user passwd/);
    assert.ok(!first.stdout.includes('wrs_') && !first.stderr.includes('wrs_'), 'the session is not printed');
    const file = join(home, 'warren', 'credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.manager, m.api);
    assert.match(saved.token, /^wrs_/);

    // Everything but the password change is refused until then.
    const early = await warren(['user', 'ls'], '', home);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /PASSWORD_CHANGE_REQUIRED/);

    const passwd = await warren(
      ['user', 'passwd', '--password-stdin'],
      `${oneTime}\n${ROOT_PASSWORD}\n`,
      home,
    );
    assert.equal(passwd.code, 0, passwd.stderr);

    const add = await warren(
      ['user', 'add', 'dave', '--role', 'guest', '--password-stdin'],
      'dave-password-1\n',
      home,
    );
    assert.equal(add.code, 0, add.stderr);
    const ls = await warren(['user', 'ls', '--json'], '', home);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      JSON.parse(ls.stdout).map((u: { name: string; role: string }) => `${u.name}:${u.role}`),
      ['dave:guest', 'root:root'],
    );
    assert.equal((await login(m, 'dave', 'dave-password-1')).status, 200);

    const logout = await warren(['logout'], '', home);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal((await m.call('GET', '/api/v1/users/me', { token: saved.token })).status, 401);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).token, '');
    const after = await warren(['user', 'ls'], '', home);
    assert.match(after.stderr, /not logged in/);
  } finally {
    await m.stop();
  }
});

/** Runs `warren …` with `stdin` written to it; credentials under `configHome`. */
function warren(args: string[], stdin: string, configHome: string) {
  return runWarren(args, { env: cliEnv(configHome), stdin });
}
