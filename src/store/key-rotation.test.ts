import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateMaintainerKey, rawPublicKey } from '../core/release/keys.js';
import { makeRotationStatement, verifyRotationStatement } from './key-rotation.js';

const releases = [
  { app_id: 'notes', version: '1.0.0', sha256: 'a'.repeat(64) },
  { app_id: 'notes', version: '1.1.0', sha256: 'b'.repeat(64) },
];

describe('key rotation statements', () => {
  const old = generateMaintainerKey().privateKey;
  const next = generateMaintainerKey().privateKey;
  const currentKey = rawPublicKey(old);

  it('accepts a fresh statement by the old and the new key that re-signs every release', () => {
    const s = makeRotationStatement('alice', old, next, releases);
    assert.deepEqual(
      verifyRotationStatement(s, { maintainer: 'alice', currentKey, releases }),
      rawPublicKey(next),
    );
  });

  it('refuses a statement not made with the current key (someone else, or an earlier rotation replayed)', () => {
    const other = generateMaintainerKey().privateKey;
    const s = makeRotationStatement('alice', other, next, releases);
    assert.throws(() => verifyRotationStatement(s, { maintainer: 'alice', currentKey, releases }), {
      code: 'ROTATION_WRONG_KEY',
    });
  });

  it('refuses a forged old signature, another maintainer, a stale statement and a partial re-signing', () => {
    const s = makeRotationStatement('alice', old, next, releases);
    const forged = { ...s, new_key: rawPublicKey(generateMaintainerKey().privateKey).toString('base64') };
    assert.throws(() => verifyRotationStatement(forged, { maintainer: 'alice', currentKey, releases }), {
      code: 'ROTATION_SIGNATURE_INVALID',
    });
    assert.throws(() => verifyRotationStatement(s, { maintainer: 'bob', currentKey, releases }), {
      code: 'ROTATION_OTHER_MAINTAINER',
    });
    const stale = makeRotationStatement('alice', old, next, releases, new Date(Date.now() - 2 * 3_600_000));
    assert.throws(() => verifyRotationStatement(stale, { maintainer: 'alice', currentKey, releases }), {
      code: 'ROTATION_STALE',
    });
    const partial = makeRotationStatement('alice', old, next, releases.slice(0, 1));
    assert.throws(() => verifyRotationStatement(partial, { maintainer: 'alice', currentKey, releases }), {
      code: 'ROTATION_RELEASES_MISMATCH',
    });
    const tampered = {
      ...s,
      releases: s.releases.map((r, i) => (i === 0 ? { ...r, signature: s.releases[1]!.signature } : r)),
    };
    assert.throws(() => verifyRotationStatement(tampered, { maintainer: 'alice', currentKey, releases }), {
      code: 'ROTATION_SIGNATURE_INVALID',
    });
  });
});
