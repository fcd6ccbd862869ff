import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWarrenError } from '../errors.js';
import { generateMaintainerKey, rawPublicKey } from './keys.js';
import {
  type IndexApp,
  releaseInIndex,
  type SignedIndexEnvelope,
  signIndex,
  verifyIndex,
} from './store-index.js';

const store = generateMaintainerKey();
const storeRaw = rawPublicKey(store.privateKey);
const maintainer = rawPublicKey(generateMaintainerKey().privateKey).toString('base64');
const DIGEST_1 = 'a'.repeat(64);
const DIGEST_2 = 'b'.repeat(64);
const apps: IndexApp[] = [
  {
    id: 'notes',
    maintainer_key: maintainer,
    official: true,
    versions: [
      { version: '1.0.0', sha256: DIGEST_1, yanked: true },
      { version: '1.1.0', sha256: DIGEST_2, yanked: false },
    ],
  },
];
const NOW = new Date('2026-11-24T00:00:00.000Z');
const DAY = 86_400_000;

function indexAt(serial: number, expiresInMs = 7 * DAY, key = store.privateKey, content = apps): string {
  return signIndex(
    { serial, issuedAt: NOW, expiresAt: new Date(NOW.getTime() + expiresInMs), apps: content },
    key,
  );
}

function refused(code: string) {
  return (err: unknown) => isWarrenError(err, code);
}

describe('the signed store index', () => {
  test('verifies against the pinned store key and finds a listed release', () => {
    const { index, seen } = verifyIndex(indexAt(5), { storeKey: storeRaw, now: NOW });
    assert.equal(index.serial, 5);
    assert.equal(seen.serial, 5);
    const found = releaseInIndex(index, { appId: 'notes', version: '1.1.0', sha256: DIGEST_2 });
    assert.equal(found.app.maintainer_key, maintainer);
  });

  test('a replayed older index is refused once a newer one was seen (rollback)', () => {
    const old = indexAt(4);
    const { seen } = verifyIndex(indexAt(5), { storeKey: storeRaw, now: NOW });
    assert.throws(() => verifyIndex(old, { storeKey: storeRaw, seen, now: NOW }), refused('INDEX_ROLLBACK'));
    // The same index again is fine; the same serial with other content is a fork.
    assert.doesNotThrow(() => verifyIndex(indexAt(5), { storeKey: storeRaw, seen, now: NOW }));
    const forked = indexAt(5, 7 * DAY, store.privateKey, []);
    assert.throws(() => verifyIndex(forked, { storeKey: storeRaw, seen, now: NOW }), refused('INDEX_FORK'));
  });

  test('an index past its expiry is refused (freeze)', () => {
    const text = indexAt(6, DAY);
    assert.throws(
      () => verifyIndex(text, { storeKey: storeRaw, now: new Date(NOW.getTime() + 2 * DAY) }),
      refused('INDEX_EXPIRED'),
    );
  });

  test('an index signed by another key, or edited after signing, is refused', () => {
    const other = generateMaintainerKey().privateKey;
    assert.throws(
      () => verifyIndex(indexAt(7, DAY, other), { storeKey: storeRaw, now: NOW }),
      refused('INDEX_SIGNATURE_INVALID'),
    );
    const envelope = JSON.parse(indexAt(7)) as SignedIndexEnvelope;
    envelope.signed = envelope.signed.replace('"yanked":true', '"yanked":false');
    assert.throws(
      () => verifyIndex(JSON.stringify(envelope), { storeKey: storeRaw, now: NOW }),
      refused('INDEX_SIGNATURE_INVALID'),
    );
  });

  test('malformed envelopes and payloads are refused without crashing', () => {
    for (const text of [
      '',
      'null',
      '{}',
      '[]',
      '{"signed":"x"}',
      '{"signed":"x","signature":"!!","more":1}',
    ]) {
      assert.throws(
        () => verifyIndex(text, { storeKey: storeRaw, now: NOW }),
        refused('INDEX_MALFORMED'),
        text,
      );
    }
    assert.throws(
      () => verifyIndex(' '.repeat(17 * 1024 * 1024), { storeKey: storeRaw, now: NOW }),
      refused('INDEX_TOO_LARGE'),
    );
  });

  test('a release not listed, with another digest, or yanked is refused', () => {
    const { index } = verifyIndex(indexAt(8), { storeKey: storeRaw, now: NOW });
    assert.throws(
      () => releaseInIndex(index, { appId: 'notes', version: '9.9.9', sha256: DIGEST_2 }),
      refused('RELEASE_NOT_IN_INDEX'),
    );
    assert.throws(
      () => releaseInIndex(index, { appId: 'other', version: '1.1.0', sha256: DIGEST_2 }),
      refused('RELEASE_NOT_IN_INDEX'),
    );
    assert.throws(
      () => releaseInIndex(index, { appId: 'notes', version: '1.1.0', sha256: DIGEST_1 }),
      refused('RELEASE_DIGEST_MISMATCH'),
    );
    assert.throws(
      () => releaseInIndex(index, { appId: 'notes', version: '1.0.0', sha256: DIGEST_1 }),
      refused('RELEASE_YANKED'),
    );
  });
});
