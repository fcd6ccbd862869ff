import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generateMaintainerKey, rawPublicKey } from '../../src/core/release/keys.js';
import { releaseInIndex, verifyIndex } from '../../src/core/release/store-index.js';
import { databaseFactory, databaseKinds } from '../helpers/manager.js';
import { makeMaintainer, signatureHeader, startTestStore, type TestStore } from '../helpers/store.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { writeReleaseZip } from '../release-signing/release-zip.js';

after(cleanupTempDirs);

/** Writes a release zip for `id` `version` and returns its path and bytes. */
async function releaseZip(id: string, version: string, description?: string) {
  const path = join(tempDir('warren-store-zip-'), `${id}-${version}.zip`);
  await writeReleaseZip(path, { id, version, ...(description ? { description } : {}) });
  return { path, bytes: readFileSync(path) };
}

async function upload(s: TestStore, token: string, zip: { path: string; bytes: Buffer }, sig: string) {
  return s.call('POST', '/api/v1/releases', {
    token,
    raw: zip.bytes,
    headers: { 'x-warren-signature': sig },
  });
}

async function rowCount(s: TestStore, table: 'releases' | 'apps'): Promise<number> {
  const row = await s.store.ctx.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

function blobs(s: TestStore): string[] {
  return readdirSync(join(s.data, 'blobs', 'sha256'));
}

function temporaries(s: TestStore): string[] {
  return readdirSync(join(s.data, 'tmp'));
}

for (const { kind, skip } of databaseKinds()) {
  describe(`store publishing on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('publish, list, index, download by digest: the bytes and the index agree', async () => {
      const s = await startTestStore({ database: await databases.next() });
      try {
        const alice = await makeMaintainer(s, 'alice');
        const zip = await releaseZip('notes', '1.0.0');
        const sig = await signatureHeader(zip.path, alice.keys, 'notes', '1.0.0');
        const published = await upload(s, alice.token, zip, sig);
        assert.equal(published.status, 201, published.text);
        assert.equal(published.body.app_id, 'notes');
        assert.match(published.body.url, /^\/releases\/sha256:[0-9a-f]{64}$/);
        assert.equal(published.body.first_version, true);

        const listed = await s.call('GET', '/api/v1/apps');
        assert.equal(listed.status, 200);
        assert.deepEqual(
          listed.body.items.map((a: { id: string; latest_version: string; official: boolean }) => [
            a.id,
            a.latest_version,
            a.official,
          ]),
          [['notes', '1.0.0', false]],
        );

        const key = await s.call('GET', '/api/v1/store-key');
        const index = await s.call('GET', '/api/v1/index');
        assert.equal(index.status, 200);
        const { index: verified } = verifyIndex(index.text, {
          storeKey: Buffer.from(key.body.public_key, 'base64'),
        });
        const entry = releaseInIndex(verified, {
          appId: 'notes',
          version: '1.0.0',
          sha256: published.body.sha256,
        });
        assert.equal(entry.app.maintainer_key, rawPublicKey(alice.keys.publicKey).toString('base64'));
        assert.equal(entry.app.official, false);

        const download = await s.call('GET', published.body.url);
        assert.equal(download.status, 200);
        assert.deepEqual(download.bytes, zip.bytes);
        assert.equal(download.headers.etag, `"sha256:${published.body.sha256}"`);
        assert.match(String(download.headers['cache-control']), /immutable/);
        const part = await s.call('GET', published.body.url, { headers: { range: 'bytes=10-19' } });
        assert.equal(part.status, 206);
        assert.deepEqual(part.bytes, zip.bytes.subarray(10, 20));
        assert.equal(part.headers['content-range'], `bytes 10-19/${zip.bytes.length}`);
        const beyond = await s.call('GET', published.body.url, {
          headers: { range: `bytes=${zip.bytes.length}-` },
        });
        assert.equal(beyond.status, 416);
        const sigFile = await s.call('GET', `${published.body.url}.sig`);
        assert.equal(sigFile.status, 200);
        assert.equal(sigFile.body.sha256, published.body.sha256);
        assert.equal((await s.call('GET', `/releases/sha256:${'0'.repeat(64)}`)).status, 404);
        assert.deepEqual(temporaries(s), []);
      } finally {
        await s.stop();
      }
    });

    test('a later version signed by another key is refused (403) and nothing is stored', async () => {
      const s = await startTestStore({ database: await databases.next() });
      try {
        const alice = await makeMaintainer(s, 'alice');
        const v1 = await releaseZip('notes', '1.0.0');
        assert.equal(
          (await upload(s, alice.token, v1, await signatureHeader(v1.path, alice.keys, 'notes', '1.0.0')))
            .status,
          201,
        );
        const before = { releases: await rowCount(s, 'releases'), blobs: blobs(s).length };

        const v2 = await releaseZip('notes', '1.1.0');
        const stranger = generateMaintainerKey();
        const refused = await upload(
          s,
          alice.token,
          v2,
          await signatureHeader(v2.path, stranger, 'notes', '1.1.0'),
        );
        assert.equal(refused.status, 403, refused.text);
        assert.equal(refused.body.error.code, 'SIGNATURE_WRONG_KEY');

        // Another maintainer, with a valid signature of their own, cannot take the app id either.
        const mallory = await makeMaintainer(s, 'mallory');
        const taken = await upload(
          s,
          mallory.token,
          v2,
          await signatureHeader(v2.path, mallory.keys, 'notes', '1.1.0'),
        );
        assert.equal(taken.status, 403, taken.text);
        assert.equal(taken.body.error.code, 'APP_NOT_YOURS');

        assert.equal(await rowCount(s, 'releases'), before.releases);
        assert.equal(blobs(s).length, before.blobs);
        assert.deepEqual(temporaries(s), []);
        const audit = await s.store.ctx.db
          .selectFrom('audit_log')
          .selectAll()
          .where('action', '=', 'release.refused')
          .execute();
        assert.deepEqual(audit.map((a) => JSON.parse(a.detail).reason).sort(), [
          'APP_NOT_YOURS',
          'SIGNATURE_WRONG_KEY',
        ]);
      } finally {
        await s.stop();
      }
    });

    test('versions are immutable (409), ordered by semver, and a yanked one stays but is marked', async () => {
      const s = await startTestStore({ database: await databases.next() });
      try {
        const alice = await makeMaintainer(s, 'alice');
        for (const version of ['1.2.0', '1.10.0', '1.9.0', '2.0.0-rc.1']) {
          const zip = await releaseZip('notes', version);
          const res = await upload(
            s,
            alice.token,
            zip,
            await signatureHeader(zip.path, alice.keys, 'notes', version),
          );
          assert.equal(res.status, 201, res.text);
        }
        // The same version again, even with other bytes, is refused; the stored one is untouched.
        const again = await releaseZip('notes', '1.9.0', 'other bytes');
        const dup = await upload(
          s,
          alice.token,
          again,
          await signatureHeader(again.path, alice.keys, 'notes', '1.9.0'),
        );
        assert.equal(dup.status, 409, dup.text);
        assert.equal(dup.body.error.code, 'VERSION_EXISTS');
        assert.deepEqual(temporaries(s), []);

        const detail = await s.call('GET', '/api/v1/apps/notes');
        assert.deepEqual(
          detail.body.versions.map((v: { version: string }) => v.version),
          ['2.0.0-rc.1', '1.10.0', '1.9.0', '1.2.0'],
        );
        assert.equal(detail.body.latest_version, '2.0.0-rc.1');

        const serialBefore = Number((await s.call('GET', '/api/v1/index')).headers['x-warren-index-serial']);
        // Only the maintainer (or an admin) may yank.
        const mallory = await makeMaintainer(s, 'mallory');
        const notYours = await s.call('POST', '/api/v1/apps/notes/versions/2.0.0-rc.1/yank', {
          token: mallory.token,
          body: {},
        });
        assert.equal(notYours.status, 403);
        const yank = await s.call('POST', '/api/v1/apps/notes/versions/2.0.0-rc.1/yank', {
          token: alice.token,
          body: { reason: 'broken migration' },
        });
        assert.equal(yank.status, 200, yank.text);
        const after = await s.call('GET', '/api/v1/apps/notes');
        assert.equal(after.body.latest_version, '1.10.0');
        assert.equal(after.body.versions[0].yanked, true);
        assert.equal(
          (await s.call('GET', after.body.versions[0].url)).status,
          200,
          'a yanked release is still served',
        );

        const key = Buffer.from((await s.call('GET', '/api/v1/store-key')).body.public_key, 'base64');
        const index = await s.call('GET', '/api/v1/index');
        const { index: verified } = verifyIndex(index.text, { storeKey: key });
        assert.ok(verified.serial > serialBefore, 'the yank made a new index');
        const rc = verified.apps[0]!.versions.find((v) => v.version === '2.0.0-rc.1')!;
        assert.equal(rc.yanked, true);
        assert.throws(
          () => releaseInIndex(verified, { appId: 'notes', version: '2.0.0-rc.1', sha256: rc.sha256 }),
          { code: 'RELEASE_YANKED' },
        );
      } finally {
        await s.stop();
      }
    });

    test('the size limit and the quota are enforced before anything is stored (413, named limits)', async () => {
      const s = await startTestStore({
        database: await databases.next(),
        flags: { 'limits.releaseSize': '64KiB', 'limits.quota': '600' },
      });
      try {
        const alice = await makeMaintainer(s, 'alice');
        const zip = await releaseZip('notes', '1.0.0');
        assert.ok(
          zip.bytes.length > 300 && zip.bytes.length <= 600,
          'the test release fits the quota once, not twice',
        );
        const first = await upload(
          s,
          alice.token,
          zip,
          await signatureHeader(zip.path, alice.keys, 'notes', '1.0.0'),
        );
        assert.equal(first.status, 201, first.text);
        const me = await s.call('GET', '/api/v1/maintainers/me', { token: alice.token });
        assert.equal(me.body.used_bytes, zip.bytes.length);

        const second = await releaseZip('notes', '1.0.1');
        const over = await upload(
          s,
          alice.token,
          second,
          await signatureHeader(second.path, alice.keys, 'notes', '1.0.1'),
        );
        assert.equal(over.status, 413, over.text);
        assert.equal(over.body.error.code, 'QUOTA_EXCEEDED');
        assert.match(over.body.error.message, /limit of 600 B/);

        // Larger than the size limit, declared: refused on Content-Length.
        const big = Buffer.alloc(100 * 1024, 7);
        const declared = await s.call('POST', '/api/v1/releases', {
          token: alice.token,
          raw: big,
          headers: { 'x-warren-signature': await signatureHeader(zip.path, alice.keys, 'notes', '9.9.9') },
        });
        assert.equal(declared.status, 413, declared.text);
        assert.equal(declared.body.error.code, 'RELEASE_TOO_LARGE');
        assert.match(declared.body.error.message, /64\.0 KiB/);

        assert.equal(await rowCount(s, 'releases'), 1);
        assert.equal(blobs(s).length, 1);
        assert.deepEqual(temporaries(s), []);
        const stillUsed = await s.call('GET', '/api/v1/maintainers/me', { token: alice.token });
        assert.equal(stillUsed.body.used_bytes, zip.bytes.length);
      } finally {
        await s.stop();
      }
    });
  });
}
