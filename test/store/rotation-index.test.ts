import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generateMaintainerKey, rawPublicKey } from '../../src/core/release/keys.js';
import { parseSignature, verifyReleaseSignature } from '../../src/core/release/signature.js';
import { verifyIndex } from '../../src/core/release/store-index.js';
import { makeRotationStatement } from '../../src/store/key-rotation.js';
import { databaseFactory, databaseKinds } from '../helpers/manager.js';
import {
  makeMaintainer,
  signatureHeader,
  startTestStore,
  type TestMaintainer,
  type TestStore,
} from '../helpers/store.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { writeReleaseZip } from '../release-signing/release-zip.js';

after(cleanupTempDirs);

async function upload(s: TestStore, m: TestMaintainer, id: string, version: string, keys = m.keys) {
  const path = join(tempDir('warren-store-zip-'), `${id}-${version}.zip`);
  await writeReleaseZip(path, { id, version });
  return s.call('POST', '/api/v1/releases', {
    token: m.token,
    raw: readFileSync(path),
    headers: { 'x-warren-signature': await signatureHeader(path, keys, id, version) },
  });
}

async function index(s: TestStore) {
  const key = Buffer.from((await s.call('GET', '/api/v1/store-key')).body.public_key, 'base64');
  return verifyIndex((await s.call('GET', '/api/v1/index')).text, { storeKey: key }).index;
}

for (const { kind, skip } of databaseKinds()) {
  describe(`store key rotation and index on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('a statement signed by the old key moves the app to the new key; every version verifies under it', async () => {
      const s = await startTestStore({ database: await databases.next() });
      try {
        const alice = await makeMaintainer(s, 'alice');
        assert.equal((await upload(s, alice, 'notes', '1.0.0')).status, 201);
        assert.equal((await upload(s, alice, 'notes', '1.1.0')).status, 201);
        const next = generateMaintainerKey();
        const listed = await s.call('GET', '/api/v1/maintainers/me/releases', { token: alice.token });
        assert.equal(listed.body.items.length, 2);

        // A statement made with a key that is not the current one is refused.
        const thief = generateMaintainerKey();
        const forged = makeRotationStatement('alice', thief.privateKey, next.privateKey, listed.body.items);
        const refused = await s.call('POST', '/api/v1/maintainers/me/key-rotation', {
          token: alice.token,
          body: forged,
        });
        assert.equal(refused.status, 403);
        assert.equal(refused.body.error.code, 'ROTATION_WRONG_KEY');

        const statement = makeRotationStatement(
          'alice',
          alice.keys.privateKey,
          next.privateKey,
          listed.body.items,
        );
        const rotated = await s.call('POST', '/api/v1/maintainers/me/key-rotation', {
          token: alice.token,
          body: statement,
        });
        assert.equal(rotated.status, 200, rotated.text);
        const newKey = rawPublicKey(next.publicKey);
        assert.equal(rotated.body.public_key, newKey.toString('base64'));
        // Replaying the same statement does nothing: the old key is no longer current.
        const replay = await s.call('POST', '/api/v1/maintainers/me/key-rotation', {
          token: alice.token,
          body: statement,
        });
        assert.equal(replay.body.error.code, 'ROTATION_WRONG_KEY');

        const after = await index(s);
        assert.equal(after.apps[0]!.maintainer_key, newKey.toString('base64'));
        for (const v of after.apps[0]!.versions) {
          const sig = parseSignature((await s.call('GET', `/releases/sha256:${v.sha256}.sig`)).text, 'sig');
          verifyReleaseSignature(sig, {
            sha256: v.sha256,
            appId: 'notes',
            version: v.version,
            publicKey: newKey,
          });
        }
        const old = await upload(s, alice, 'notes', '1.2.0');
        assert.equal(old.status, 403);
        assert.equal(old.body.error.code, 'SIGNATURE_WRONG_KEY');
        assert.equal((await upload(s, alice, 'notes', '1.2.0', next)).status, 201);
      } finally {
        await s.stop();
      }
    });

    test('every change signs a new index with a higher serial; it is re-signed before half its expiry; serials survive a restart', async () => {
      const database = await databases.next();
      const data = tempDir('warren-store-data-');
      let s = await startTestStore({ database, data, flags: { 'index.expiry': '3s' } });
      try {
        const alice = await makeMaintainer(s, 'alice');
        const empty = await index(s);
        assert.deepEqual(empty.apps, []);
        assert.equal((await index(s)).serial, empty.serial, 'no change, same index');
        assert.equal((await upload(s, alice, 'notes', '1.0.0')).status, 201);
        const first = await index(s);
        assert.ok(first.serial > empty.serial);
        await new Promise((r) => setTimeout(r, 1_600));
        const resigned = await index(s);
        assert.ok(resigned.serial > first.serial, 'past half the expiry: a new serial');
        assert.ok(Date.parse(resigned.expires_at) > Date.parse(first.expires_at));
        assert.deepEqual(resigned.apps, first.apps);
        await s.stop();
        s = await startTestStore({ database, data, flags: { 'index.expiry': '3s' } });
        assert.ok((await index(s)).serial > resigned.serial, 'a restart does not reuse a serial');
      } finally {
        await s.stop();
      }
    });
  });
}
