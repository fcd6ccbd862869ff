import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatPublicKeyLine, generateMaintainerKey } from '../../src/core/release/keys.js';
import { verifyIndex } from '../../src/core/release/store-index.js';
import { databaseFactory, databaseKinds } from '../helpers/manager.js';
import {
  ADMIN_PASSWORD,
  makeMaintainer,
  signatureHeader,
  startTestStore,
  storeLogin,
  type TestStore,
} from '../helpers/store.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { writeReleaseZip } from '../release-signing/release-zip.js';

after(cleanupTempDirs);

function keyLine() {
  return formatPublicKeyLine(generateMaintainerKey().publicKey, 'test');
}

async function publish(
  s: TestStore,
  m: Awaited<ReturnType<typeof makeMaintainer>>,
  id: string,
  version: string,
  description = 'a test app',
) {
  const path = join(tempDir('warren-store-zip-'), `${id}.zip`);
  await writeReleaseZip(path, { id, version, description });
  const res = await s.call('POST', '/api/v1/releases', {
    token: m.token,
    raw: readFileSync(path),
    headers: { 'x-warren-signature': await signatureHeader(path, m.keys, id, version) },
  });
  assert.equal(res.status, 201, res.text);
}

async function tokenCount(s: TestStore): Promise<number> {
  const row = await s.store.ctx.db
    .selectFrom('api_tokens')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

for (const { kind, skip } of databaseKinds()) {
  describe(`store accounts, sessions and listing on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('registration needs a live, unused invitation; names and keys are unique', async () => {
      const s = await startTestStore({ database: await databases.next() });
      try {
        const body = { name: 'alice', password: 'alice-password-123', public_key: keyLine() };
        const uninvited = await s.call('POST', '/api/v1/maintainers', { body });
        assert.equal(uninvited.status, 403);
        assert.equal(uninvited.body.error.code, 'INVITATION_REQUIRED');
        const guessed = await s.call('POST', '/api/v1/maintainers', {
          body: { ...body, invitation: 'wsi_guess' },
        });
        assert.equal(guessed.body.error.code, 'INVITATION_INVALID');

        const admin = await storeLogin(s, 'admin', ADMIN_PASSWORD);
        const code = (await s.call('POST', '/api/v1/invitations', { session: admin })).body.code;
        assert.match(code, /^wsi_/);
        const ok = await s.call('POST', '/api/v1/maintainers', { body: { ...body, invitation: code } });
        assert.equal(ok.status, 201, ok.text);
        assert.match(ok.body.key_id, /^[0-9a-f]{16}$/);
        const reused = await s.call('POST', '/api/v1/maintainers', {
          body: { name: 'bob', password: 'bob-password-1234', public_key: keyLine(), invitation: code },
        });
        assert.equal(reused.body.error.code, 'INVITATION_INVALID');
        const code2 = (await s.call('POST', '/api/v1/invitations', { session: admin })).body.code;
        const sameKey = await s.call('POST', '/api/v1/maintainers', {
          body: {
            name: 'bob',
            password: 'bob-password-1234',
            public_key: body.public_key,
            invitation: code2,
          },
        });
        assert.equal(sameKey.status, 409);
        assert.equal(sameKey.body.error.code, 'KEY_IN_USE');
        // The failed attempt did not use up the code.
        const bob = await s.call('POST', '/api/v1/maintainers', {
          body: { name: 'bob', password: 'bob-password-1234', public_key: keyLine(), invitation: code2 },
        });
        assert.equal(bob.status, 201, bob.text);
        // A maintainer may not invite.
        const alice = await storeLogin(s, 'alice', body.password);
        assert.equal((await s.call('POST', '/api/v1/invitations', { session: alice })).status, 403);
      } finally {
        await s.stop();
      }
    });

    test('open registration needs no invitation', async () => {
      const s = await startTestStore({ database: await databases.next(), flags: { registration: 'open' } });
      try {
        const res = await s.call('POST', '/api/v1/maintainers', {
          body: { name: 'carol', password: 'carol-password-123', public_key: keyLine() },
        });
        assert.equal(res.status, 201, res.text);
      } finally {
        await s.stop();
      }
    });

    test('CSRF: a cookie without the session token changes nothing (403); bearer tokens need none', async () => {
      const s = await startTestStore({ database: await databases.next() });
      try {
        const alice = await makeMaintainer(s, 'alice');
        await publish(s, alice, 'notes', '1.0.0');
        const tokens = await tokenCount(s);
        const cookieOnly = { cookie: alice.session.cookie };
        const forged = await s.call('POST', '/api/v1/tokens', {
          session: cookieOnly,
          body: { name: 'evil' },
        });
        assert.equal(forged.status, 403, forged.text);
        assert.equal(forged.body.error.code, 'CSRF_TOKEN_INVALID');
        const wrong = await s.call('POST', '/api/v1/tokens', {
          session: { cookie: alice.session.cookie, csrf: 'x'.repeat(43) },
          body: { name: 'evil' },
        });
        assert.equal(wrong.status, 403);
        const yank = await s.call('POST', '/api/v1/apps/notes/versions/1.0.0/yank', {
          session: cookieOnly,
          body: {},
        });
        assert.equal(yank.status, 403);
        const upload = await s.call('POST', '/api/v1/releases', {
          session: cookieOnly,
          raw: Buffer.from('zip'),
        });
        assert.equal(upload.status, 403);
        assert.equal(await tokenCount(s), tokens, 'no token was made');
        const release = await s.store.ctx.db
          .selectFrom('releases')
          .select('yanked_at')
          .executeTakeFirstOrThrow();
        assert.equal(release.yanked_at, null, 'nothing was yanked');

        // Reads with the cookie alone are fine; the right token lets the change through.
        assert.equal((await s.call('GET', '/api/v1/tokens', { session: cookieOnly })).status, 200);
        const session = await s.call('GET', '/api/v1/auth/session', { session: cookieOnly });
        assert.equal(session.body.csrf_token, alice.session.csrf);
        const made = await s.call('POST', '/api/v1/tokens', { session: alice.session, body: { name: 'ci' } });
        assert.equal(made.status, 201, made.text);
        assert.match(made.body.token, /^wst_[A-Za-z0-9_-]{43}$/);
        // A token may not make tokens (session only), but needs no CSRF token elsewhere.
        const byToken = await s.call('POST', '/api/v1/tokens', {
          token: made.body.token,
          body: { name: 'x' },
        });
        assert.equal(byToken.status, 403);
        const yanked = await s.call('POST', '/api/v1/apps/notes/versions/1.0.0/yank', {
          token: made.body.token,
          body: {},
        });
        assert.equal(yanked.status, 200, yanked.text);
        // A revoked token is refused at once; logout ends the cookie session.
        assert.equal(
          (await s.call('DELETE', `/api/v1/tokens/${made.body.id}`, { token: alice.token })).status,
          204,
        );
        assert.equal((await s.call('GET', '/api/v1/maintainers/me', { token: made.body.token })).status, 401);
        assert.equal((await s.call('POST', '/api/v1/auth/logout', { session: alice.session })).status, 204);
        assert.equal((await s.call('GET', '/api/v1/tokens', { session: cookieOnly })).status, 401);
      } finally {
        await s.stop();
      }
    });

    test('listing: search, official or third-party, pages; the admin marks official and reads the audit log', async () => {
      const s = await startTestStore({
        database: await databases.next(),
        flags: { 'auth.loginAttemptsPerMinute': 3 },
      });
      try {
        const alice = await makeMaintainer(s, 'alice');
        const bob = await makeMaintainer(s, 'bob');
        await publish(s, alice, 'notes', '1.0.0', 'take notes');
        await publish(s, alice, 'photos', '1.0.0', 'an album');
        await publish(s, bob, 'wiki', '0.1.0', 'notes for teams');
        const admin = await storeLogin(s, 'admin', ADMIN_PASSWORD);
        const marked = await s.call('PUT', '/api/v1/maintainers/alice/official', {
          session: admin,
          body: { official: true },
        });
        assert.equal(marked.status, 200, marked.text);
        assert.equal(
          (
            await s.call('PUT', '/api/v1/maintainers/bob/official', {
              token: bob.token,
              body: { official: true },
            })
          ).status,
          403,
        );

        const ids = async (query: string) =>
          ((await s.call('GET', `/api/v1/apps${query}`)).body.items as Array<{ id: string }>).map(
            (a) => a.id,
          );
        assert.deepEqual(await ids(''), ['notes', 'photos', 'wiki']);
        assert.deepEqual(await ids('?official=true'), ['notes', 'photos']);
        assert.deepEqual(await ids('?official=false'), ['wiki']);
        assert.deepEqual(await ids('?q=NOTES'), ['notes', 'wiki']);
        assert.deepEqual(await ids('?q=%25'), []);
        const page1 = await s.call('GET', '/api/v1/apps?limit=2');
        assert.equal(page1.body.items.length, 2);
        const page2 = await s.call('GET', `/api/v1/apps?limit=2&cursor=${page1.body.next_cursor}`);
        assert.deepEqual(
          page2.body.items.map((a: { id: string }) => a.id),
          ['wiki'],
        );
        assert.equal(page2.body.next_cursor, null);
        const key = Buffer.from((await s.call('GET', '/api/v1/store-key')).body.public_key, 'base64');
        const { index } = verifyIndex((await s.call('GET', '/api/v1/index')).text, { storeKey: key });
        assert.deepEqual(
          index.apps.map((a) => [a.id, a.official]),
          [
            ['notes', true],
            ['photos', true],
            ['wiki', false],
          ],
        );

        // Logins are limited per name.
        for (let i = 0; i < 3; i++) {
          const bad = await s.call('POST', '/api/v1/auth/login', {
            body: { name: 'bob', password: 'wrong-password' },
          });
          assert.equal(bad.status, 401);
        }
        const limited = await s.call('POST', '/api/v1/auth/login', {
          body: { name: 'bob', password: bob.password },
        });
        assert.equal(limited.status, 429);
        assert.ok(limited.headers['retry-after']);

        assert.equal((await s.call('GET', '/api/v1/audit', { token: alice.token })).status, 403);
        const audit = await s.call('GET', '/api/v1/audit?limit=500', { session: admin });
        assert.equal(audit.status, 200);
        const actions = new Set((audit.body.items as Array<{ action: string }>).map((e) => e.action));
        for (const action of [
          'maintainer.create',
          'invitation.create',
          'maintainer.register',
          'auth.login',
          'auth.login_failed',
          'token.create',
          'release.publish',
          'maintainer.official',
        ]) {
          assert.ok(actions.has(action), `audit has ${action}`);
        }
        assert.ok(
          !audit.text.includes(alice.password) && !audit.text.includes(alice.token),
          'no secret in the audit log',
        );
      } finally {
        await s.stop();
      }
    });
  });
}
