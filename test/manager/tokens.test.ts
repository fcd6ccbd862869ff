import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { sha256Hex } from '../../src/core/auth/secrets.js';
import { createToken, rootSession, userSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { runWarren } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

after(cleanupTempDirs);

/** Polls `check` until it returns true or `ms` pass. */
async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}

const status = async (m: TestManager, token: string, path = '/api/v1/users/me') =>
  (await m.call('GET', path, { token })).status;

async function tokenRow(m: TestManager, id: string) {
  return m.manager.ctx.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** A write operation that only needs `scope` (from the OpenAPI document: whatever other parts add). */
async function writeOperation(
  m: TestManager,
  scope: string,
): Promise<{ method: string; path: string } | undefined> {
  const doc = (await m.call('GET', '/api/v1/openapi.json')).body;
  type Operation = {
    'x-warren-access'?: { scope?: string; write?: boolean; root?: boolean; session?: boolean };
  };
  for (const [template, methods] of Object.entries(doc.paths as Record<string, Record<string, Operation>>)) {
    for (const [method, op] of Object.entries(methods)) {
      const access = op['x-warren-access'];
      if (access?.scope === scope && access.write && !access.root && !access.session) {
        return { method: method.toUpperCase(), path: template.replace(/\{[^}]+\}/g, 'xyz') };
      }
    }
  }
  return undefined;
}

for (const { kind, skip } of databaseKinds()) {
  describe(`personal access tokens on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('create shows the secret once; it is stored hashed and never listed', async () => {
      const m = await startTestManager({ database: await databases.next() });
      try {
        const root = await rootSession(m);
        const made = await m.call('POST', '/api/v1/tokens', {
          token: root,
          body: { name: 'ci', scopes: ['job', 'read'], expires_in: '30d' },
        });
        assert.equal(made.status, 201);
        assert.match(made.body.token, /^wrp_[A-Za-z0-9_-]{43}$/);
        assert.deepEqual(made.body.scopes, ['read', 'job']);
        const days = (Date.parse(made.body.expires_at) - Date.now()) / 86_400_000;
        assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
        const row = await tokenRow(m, made.body.id);
        assert.equal(row.secret_hash, sha256Hex(made.body.token));
        assert.ok(!JSON.stringify(row).includes(made.body.token.slice(4)));

        const list = await m.call('GET', '/api/v1/tokens', { token: root });
        assert.equal(list.status, 200);
        assert.equal(list.body.items.length, 1);
        const listed = list.body.items[0];
        assert.deepEqual(Object.keys(listed).sort(), [
          'created_at',
          'expires_at',
          'id',
          'last_used_at',
          'name',
          'owner',
          'previous_valid_until',
          'revoked_at',
          'scopes',
        ]);
        assert.ok(!JSON.stringify(list.body).includes(row.secret_hash), 'no hash in the list');
        const me = await m.call('GET', '/api/v1/users/me', { token: made.body.token });
        assert.deepEqual(me.body.credential, { kind: 'token', id: made.body.id, scopes: ['read', 'job'] });

        // Expiry: required, in the future, at most auth.tokenMaxLifetime (365d).
        const count = async () => (await m.manager.ctx.db.selectFrom('tokens').select('id').execute()).length;
        for (const body of [
          { name: 'x', scopes: ['read'] },
          { name: 'x', scopes: ['read'], expires_in: '366d' },
          { name: 'x', scopes: ['read'], expires_at: '2001-01-01T00:00:00Z' },
          { name: 'x', scopes: [], expires_in: '1d' },
          { name: 'x', scopes: ['admin'], expires_in: '1d' },
          { name: 'x', scopes: ['read', 'enroll'], expires_in: '1d' },
        ]) {
          const res = await m.call('POST', '/api/v1/tokens', { token: root, body });
          assert.equal(res.status, 400, JSON.stringify(body));
        }
        assert.equal(await count(), 1, 'refused creations wrote nothing');
        const at = new Date(Date.now() + 3_600_000).toISOString();
        const byInstant = await m.call('POST', '/api/v1/tokens', {
          token: root,
          body: { name: 'until', scopes: ['read'], expires_at: at },
        });
        assert.equal(byInstant.body.expires_at, at);
      } finally {
        await m.stop();
      }
    });

    test("a token can do no more than its scopes and its owner's role; tokens cannot manage tokens or users", async () => {
      const m = await startTestManager({ database: await databases.next() });
      try {
        const root = await rootSession(m);
        const guest = await userSession(m, root, 'gina', 'guest');
        const readOnly = await createToken(m, root, ['read']);
        const everything = await createToken(m, root, ['read', 'job', 'cluster']);
        const guestJob = await createToken(m, guest.token, ['read', 'job', 'cluster']);
        const tokensBefore = (await m.manager.ctx.db.selectFrom('tokens').select('id').execute()).length;
        const usersBefore = (await m.manager.ctx.db.selectFrom('users').select('id').execute()).length;

        // Reads work with a read token; token and user management needs a session.
        assert.equal(await status(m, readOnly.token, '/api/v1/users'), 200);
        for (const token of [readOnly.token, everything.token]) {
          for (const [method, path, body] of [
            ['POST', '/api/v1/tokens', { name: 'minted', scopes: ['read'], expires_in: '1d' }],
            ['GET', '/api/v1/tokens', undefined],
            ['DELETE', `/api/v1/tokens/${readOnly.id}`, undefined],
            ['POST', `/api/v1/tokens/${everything.id}/rotate`, undefined],
            ['POST', '/api/v1/users', { name: 'mallory', role: 'root', password: 'mallory-password' }],
            ['PATCH', `/api/v1/users/${guest.id}`, { role: 'root' }],
            ['DELETE', `/api/v1/users/${guest.id}`, undefined],
          ] as const) {
            const res = await m.call(method, path, { token, body });
            assert.equal(res.status, 403, `${method} ${path}`);
            assert.match(res.body.error.message, /login session/);
          }
        }
        assert.equal(
          (await m.manager.ctx.db.selectFrom('tokens').select('id').execute()).length,
          tokensBefore,
        );
        assert.equal((await m.manager.ctx.db.selectFrom('users').select('id').execute()).length, usersBefore);
        assert.equal((await tokenRow(m, readOnly.id)).revoked_at, null);
        assert.equal((await m.call('GET', '/api/v1/users/me', { token: guest.token })).body.role, 'guest');

        // A write route of another part, whichever exists: scope and role both gate it.
        const write = (await writeOperation(m, 'cluster')) ?? (await writeOperation(m, 'job'));
        assert.ok(write, 'some part offers a write operation');
        const writeAs = (token: string) => m.call(write.method, write.path, { token, body: {} });
        assert.equal((await writeAs(readOnly.token)).status, 403, 'a read token cannot write');
        const guestWrite = await writeAs(guestJob.token);
        assert.equal(guestWrite.status, 403, "a guest's token with every scope still cannot write");
        assert.match(guestWrite.body.error.message, /guest/);
        assert.ok(
          ![401, 403].includes((await writeAs(everything.token)).status),
          "root's scoped token passes",
        );

        // The owner's role is checked at use: demoting the owner demotes the token at once.
        const other = (await userSession(m, root, 'second-root', 'root')).token;
        const rootUser = (await m.call('GET', '/api/v1/users/me', { token: root })).body.id;
        assert.equal(
          (await m.call('PATCH', `/api/v1/users/${rootUser}`, { token: other, body: { role: 'guest' } }))
            .status,
          200,
        );
        assert.equal((await writeAs(everything.token)).status, 403);
        assert.equal(await status(m, everything.token, '/api/v1/users'), 403, 'no longer root');

        // Deleting the owner kills the token.
        assert.equal((await m.call('DELETE', `/api/v1/users/${guest.id}`, { token: other })).status, 200);
        assert.equal(await status(m, guestJob.token), 401);
      } finally {
        await m.stop();
      }
    });

    test('revocation is immediate; only the owner or root revokes; listing everyone is root only', async () => {
      const m = await startTestManager({ database: await databases.next() });
      try {
        const root = await rootSession(m);
        const guest = await userSession(m, root, 'gus', 'guest');
        const mine = await createToken(m, guest.token, ['read']);
        const roots = await createToken(m, root, ['read']);
        assert.equal(await status(m, mine.token), 200);
        // Not the guest's token: answered as if it did not exist.
        assert.equal(
          (await m.call('DELETE', `/api/v1/tokens/${roots.id}`, { token: guest.token })).status,
          404,
        );
        assert.equal(await status(m, roots.token), 200);
        assert.equal((await m.call('GET', '/api/v1/tokens?all=true', { token: guest.token })).status, 403);
        const all = await m.call('GET', '/api/v1/tokens?all=true', { token: root });
        assert.deepEqual(all.body.items.map((t: { owner: string }) => t.owner).sort(), ['gus', 'root']);
        const own = await m.call('GET', '/api/v1/tokens', { token: guest.token });
        assert.deepEqual(
          own.body.items.map((t: { id: string }) => t.id),
          [mine.id],
        );

        const revoked = await m.call('DELETE', `/api/v1/tokens/${mine.id}`, { token: root });
        assert.equal(revoked.status, 200);
        assert.ok(revoked.body.revoked_at);
        assert.equal(await status(m, mine.token), 401, 'refused on the next request');
        const again = await m.call('DELETE', `/api/v1/tokens/${mine.id}`, { token: guest.token });
        assert.equal(again.body.revoked_at, revoked.body.revoked_at, 'revoking twice keeps the first time');
        const rotate = await m.call('POST', `/api/v1/tokens/${mine.id}/rotate`, { token: guest.token });
        assert.equal(rotate.body.error.code, 'TOKEN_INACTIVE');
        // Root may revoke, not rotate (that would hand it the secret), another user's token.
        const other = await createToken(m, guest.token, ['read']);
        const steal = await m.call('POST', `/api/v1/tokens/${other.id}/rotate`, { token: root });
        assert.equal(steal.status, 403);
        assert.equal((await tokenRow(m, other.id)).secret_hash, sha256Hex(other.token));
        const audit = await m.manager.ctx.db.selectFrom('audit_log').select(['action', 'detail']).execute();
        assert.ok(audit.some((a) => a.action === 'token.create'));
        assert.ok(audit.some((a) => a.action === 'token.revoke'));
        assert.ok(!JSON.stringify(audit).includes(mine.token), 'no secret in the audit log');
      } finally {
        await m.stop();
      }
    });

    test('expiry, rotation with a grace period, and last use recorded at most once a minute', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { 'auth.rotationGrace': '2s' },
      });
      try {
        const root = await rootSession(m);
        const short = await createToken(m, root, ['read'], { expires_in: '2s' });
        assert.equal(await status(m, short.token), 200);
        await eventually('the token expires', async () => (await status(m, short.token)) === 401);

        const long = await createToken(m, root, ['read']);
        assert.equal((await tokenRow(m, long.id)).last_used_at, null);
        assert.equal(await status(m, long.token), 200);
        await eventually('last use recorded', async () => (await tokenRow(m, long.id)).last_used_at !== null);
        const firstUse = (await tokenRow(m, long.id)).last_used_at;
        for (let i = 0; i < 5; i++) assert.equal(await status(m, long.token), 200);
        assert.equal((await tokenRow(m, long.id)).last_used_at, firstUse, 'not rewritten within the minute');

        const rotated = await m.call('POST', `/api/v1/tokens/${long.id}/rotate`, { token: root });
        assert.equal(rotated.status, 200);
        const fresh = rotated.body.token;
        assert.notEqual(fresh, long.token);
        assert.ok(rotated.body.previous_valid_until);
        assert.equal(await status(m, fresh), 200);
        assert.equal(await status(m, long.token), 200, 'the old secret works during the grace');
        await eventually('the old secret stops', async () => (await status(m, long.token)) === 401);
        assert.equal(await status(m, fresh), 200, 'the new secret still works');
      } finally {
        await m.stop();
      }
    });

    test('join tokens: root only, at most 7 days, carry the CA fingerprint, never a bearer credential', async () => {
      const m = await startTestManager({ database: await databases.next() });
      try {
        const root = await rootSession(m);
        const guest = await userSession(m, root, 'gail', 'guest');
        const byGuest = await m.call('POST', '/api/v1/tokens', {
          token: guest.token,
          body: { name: 'join', scopes: ['enroll'], expires_in: '1h' },
        });
        assert.equal(byGuest.status, 403);
        const tooLong = await m.call('POST', '/api/v1/tokens', {
          token: root,
          body: { name: 'join', scopes: ['enroll'], expires_in: '8d' },
        });
        assert.equal(tooLong.status, 400);
        const made = await m.call('POST', '/api/v1/tokens', {
          token: root,
          body: { name: 'join', scopes: ['enroll'] },
        });
        assert.equal(made.status, 201);
        const hours = (Date.parse(made.body.expires_at) - Date.now()) / 3_600_000;
        assert.ok(hours > 23.9 && hours <= 24, 'a day by default');
        const fingerprint = m.manager.ctx.ca.fingerprint;
        assert.match(made.body.token, new RegExp(`^wrj_[A-Za-z0-9_-]{43}_${fingerprint}$`));

        assert.equal(await status(m, made.body.token), 401, 'not a bearer credential');
        const auth = m.manager.ctx.auth;
        assert.deepEqual(await auth.verifyEnrollToken(made.body.token), {
          tokenId: made.body.id,
          userName: 'root',
        });
        assert.ok((await tokenRow(m, made.body.id)).last_used_at, 'use recorded');
        const otherCa = made.body.token.replace(/_[0-9a-f]{64}$/, `_${'0'.repeat(64)}`);
        assert.equal(await auth.verifyEnrollToken(otherCa), undefined, 'another CA fingerprint');
        assert.equal(await auth.verifyEnrollToken(`wrj_${'A'.repeat(43)}_${fingerprint}`), undefined);
        const pat = await createToken(m, root, ['read']);
        assert.equal(await auth.verifyEnrollToken(pat.token), undefined, 'a PAT is not a join token');
        assert.equal((await m.call('DELETE', `/api/v1/tokens/${made.body.id}`, { token: root })).status, 200);
        assert.equal(await auth.verifyEnrollToken(made.body.token), undefined, 'revoked');
      } finally {
        await m.stop();
      }
    });

    if (kind === 'postgres') {
      test('with PostgreSQL down, recently verified credentials still read; writes answer 503; it recovers', async () => {
        // A short cache life: the outage path is taken, not a plain cache hit.
        const m = await startTestManager({
          database: await databases.next(),
          flags: { 'cache.refresh': '50ms' },
        });
        const server = databases.server!;
        try {
          const root = await rootSession(m);
          const pat = await createToken(m, root, ['read']);
          const unseen = await createToken(m, root, ['read']);
          assert.equal(await status(m, pat.token), 200);
          assert.equal(await status(m, root), 200);
          const verifiedAt = Date.now();
          server.stop();
          try {
            assert.ok(Date.now() - verifiedAt > 50, 'the cache entries are due for a refresh');
            const me = await m.call('GET', '/api/v1/users/me', { token: pat.token });
            assert.equal(me.status, 200, JSON.stringify(me.body));
            assert.equal(me.body.name, 'root');
            const write = await m.call('POST', '/api/v1/tokens', {
              token: root,
              body: { name: 'during', scopes: ['read'], expires_in: '1d' },
            });
            assert.equal(write.status, 503);
            assert.equal(write.body.error.code, 'DATABASE_UNAVAILABLE');
            const unknown = await m.call('GET', '/api/v1/users/me', { token: unseen.token });
            assert.equal(unknown.status, 503, 'a credential never verified cannot be vouched for');
          } finally {
            server.start();
          }
          await eventually(
            'writes work again',
            async () => {
              const res = await m.call('POST', '/api/v1/tokens', {
                token: root,
                body: { name: 'after', scopes: ['read'], expires_in: '1d' },
              });
              return res.status === 201;
            },
            30_000,
          );
          assert.equal(await status(m, unseen.token), 200);
        } finally {
          await m.stop();
        }
      });
    }
  });
}

test('the CLI creates, lists, rotates and revokes tokens; the secret is printed once, alone', async () => {
  const m = await startTestManager();
  try {
    const root = await rootSession(m);
    const home = tempDir('warren-cli-');
    // What `warren login` saves (its own test drives it); here the token commands are the subject.
    mkdirSync(join(home, 'warren'), { recursive: true });
    writeFileSync(
      join(home, 'warren', 'credentials.json'),
      JSON.stringify({ manager: m.api, ca: m.caPem, token: root, user: 'root' }),
      { mode: 0o600 },
    );

    const created = await warren(
      ['token', 'create', '--name', 'ci', '--scope', 'read,job', '--expires', '30d'],
      home,
    );
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^wrp_[A-Za-z0-9_-]{43}$/, 'stdout is the secret alone');
    assert.match(created.stderr, /shown only this once/);
    const me = await m.call('GET', '/api/v1/users/me', { token: secret });
    assert.deepEqual(me.body.credential.scopes, ['read', 'job']);
    const id = me.body.credential.id;

    const ls = await warren(['token', 'ls', '--json'], home);
    assert.equal(ls.code, 0, ls.stderr);
    const listed = JSON.parse(ls.stdout);
    assert.deepEqual(
      listed.map((t: { id: string; scopes: string[] }) => `${t.id}:${t.scopes.join(',')}`),
      [`${id}:read,job`],
    );
    assert.ok(!ls.stdout.includes(secret));
    const table = await warren(['token', 'ls'], home);
    assert.match(table.stdout, /^ID\s+NAME\s+SCOPES\s+STATUS/m);
    assert.match(table.stdout, new RegExp(`${id}\\s+ci\\s+read,job\\s+active`));

    const join_ = await warren(['token', 'create', '--name', 'join', '--scope', 'enroll'], home);
    assert.equal(join_.code, 0, join_.stderr);
    assert.match(join_.stdout.trim(), new RegExp(`^wrj_[A-Za-z0-9_-]{43}_${m.manager.ctx.ca.fingerprint}$`));

    const noExpiry = await warren(['token', 'create', '--name', 'x', '--scope', 'read'], home);
    assert.equal(noExpiry.code, 1);
    assert.match(noExpiry.stderr, /needs an expiry/);

    const rotated = await warren(['token', 'rotate', id, '--json'], home);
    assert.equal(rotated.code, 0, rotated.stderr);
    const fresh = JSON.parse(rotated.stdout).token;
    assert.equal((await m.call('GET', '/api/v1/users/me', { token: fresh })).status, 200);

    const revoked = await warren(['token', 'revoke', id], home);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked/);
    assert.equal((await m.call('GET', '/api/v1/users/me', { token: fresh })).status, 401);
    assert.equal((await m.call('GET', '/api/v1/users/me', { token: secret })).status, 401);
  } finally {
    await m.stop();
  }
});

/** Runs `warren …` (stdin closed) with credentials under `configHome`, no inherited manager settings. */
function warren(args: string[], configHome: string) {
  const unset = { WARREN_TOKEN: undefined, WARREN_MANAGER: undefined, WARREN_CA_FILE: undefined };
  return runWarren(args, { env: { XDG_CONFIG_HOME: configHome, ...unset }, stdin: '' });
}
