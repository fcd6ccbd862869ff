import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generateMaintainerKey, keyId, rawPublicKey } from './keys.js';
import {
  MAX_SIGNATURE_FILE,
  parseSignature,
  readSignature,
  sha256OfFile,
  signRelease,
  signReleaseDigest,
  verifyReleaseSignature,
  writeSignature,
} from './signature.js';
import { ReleaseError, type ReleaseSignature } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-signature-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const maintainer = generateMaintainerKey();
const maintainerRaw = rawPublicKey(maintainer.publicKey);
const other = generateMaintainerKey();
const manifest = { id: 'notes', version: '1.2.0' };
const zip = join(dir, 'notes-1.2.0.zip');
// Not a real release: signatures cover bytes, whatever they are (the validator is tested on its own).
writeFileSync(zip, Buffer.alloc(300_000, 7));
const zipSha = createHash('sha256').update(readFileSync(zip)).digest('hex');
const expected = { sha256: zipSha, appId: 'notes', version: '1.2.0', publicKey: maintainerRaw };

const refusedWith = (code: string) => (err: unknown) => {
  assert.ok(err instanceof ReleaseError, String(err));
  assert.equal(err.code, code, err.message);
  return true;
};

describe('release signatures', () => {
  test('sign → write → read → verify, pinned and unpinned', async () => {
    const sig = await signRelease(zip, maintainer.privateKey, manifest);
    assert.equal(sig.sha256, zipSha);
    assert.equal(sig.public_key, maintainerRaw.toString('base64'));
    const file = `${zip}.sig`;
    await writeSignature(file, sig);
    assert.deepEqual(readdirSync(dir).sort(), ['notes-1.2.0.zip', 'notes-1.2.0.zip.sig']); // no temp left
    const read = await readSignature(file);
    assert.deepEqual(read, sig);
    const pinned = verifyReleaseSignature(read, expected);
    assert.deepEqual(pinned, { publicKey: maintainerRaw, keyId: keyId(maintainerRaw), pinned: true });
    const { publicKey: _, ...unpinnedExpected } = expected;
    assert.equal(verifyReleaseSignature(read, unpinnedExpected).pinned, false);
  });

  test('hashes the zip as a stream, the same digest as hashing it whole', async () => {
    assert.deepEqual(await sha256OfFile(zip), { sha256: zipSha, bytes: 300_000 });
  });

  test('a valid signature by another key is refused when the maintainer key is pinned, naming both', () => {
    const sig = signReleaseDigest(zipSha, other.privateKey, manifest);
    const otherId = keyId(rawPublicKey(other.publicKey));
    assert.throws(
      () => verifyReleaseSignature(sig, expected),
      (err: unknown) =>
        refusedWith('SIGNATURE_WRONG_KEY')(err) &&
        (err as Error).message.includes(otherId) &&
        (err as Error).message.includes(keyId(maintainerRaw)),
    );
  });

  test('a zip changed after signing is refused', () => {
    const sig = signReleaseDigest(zipSha, maintainer.privateKey, manifest);
    const changed = createHash('sha256').update(Buffer.alloc(300_000, 8)).digest('hex');
    assert.throws(
      () => verifyReleaseSignature(sig, { ...expected, sha256: changed }),
      refusedWith('SIGNATURE_OTHER_BYTES'),
    );
  });

  test("a signature for another app or another version is refused, even by the maintainer's key", () => {
    const forOtherApp = signReleaseDigest(zipSha, maintainer.privateKey, {
      id: 'other-app',
      version: '1.2.0',
    });
    assert.throws(() => verifyReleaseSignature(forOtherApp, expected), refusedWith('SIGNATURE_OTHER_APP'));
    const forOlder = signReleaseDigest(zipSha, maintainer.privateKey, { id: 'notes', version: '1.1.0' });
    assert.throws(() => verifyReleaseSignature(forOlder, expected), refusedWith('SIGNATURE_OTHER_APP'));
  });

  test('a signature whose fields were edited after signing does not verify', () => {
    const sig = signReleaseDigest(zipSha, maintainer.privateKey, { id: 'notes', version: '1.1.0' });
    // Replaying 1.1.0's signature as 1.2.0 by editing the version field.
    const edited: ReleaseSignature = { ...sig, version: '1.2.0' };
    assert.throws(() => verifyReleaseSignature(edited, expected), refusedWith('SIGNATURE_INVALID'));
    // An attacker swapping in their own key without re-signing.
    const swapped: ReleaseSignature = {
      ...sig,
      version: '1.2.0',
      public_key: rawPublicKey(other.publicKey).toString('base64'),
    };
    assert.throws(() => verifyReleaseSignature(swapped, expected), refusedWith('SIGNATURE_INVALID'));
  });

  test('a corrupted signature (one bit) is refused', () => {
    const sig = signReleaseDigest(zipSha, maintainer.privateKey, manifest);
    const bytes = Buffer.from(sig.signature, 'base64');
    for (const index of [0, 31, 63]) {
      const flipped = Buffer.from(bytes);
      flipped[index]! ^= 1;
      assert.throws(
        () => verifyReleaseSignature({ ...sig, signature: flipped.toString('base64') }, expected),
        refusedWith('SIGNATURE_INVALID'),
      );
    }
    // a public key that is not a point on the curve
    const notAPoint = { ...sig, public_key: Buffer.alloc(32, 0xff).toString('base64') };
    assert.throws(() => verifyReleaseSignature(notAPoint, expected), refusedWith('SIGNATURE_INVALID'));
  });

  test('a missing signature file is SIGNATURE_MISSING', async () => {
    await assert.rejects(readSignature(join(dir, 'absent.zip.sig')), refusedWith('SIGNATURE_MISSING'));
  });

  test('malformed signature files are refused without crashing', async () => {
    const good = signReleaseDigest(zipSha, maintainer.privateKey, manifest);
    const text = JSON.stringify(good);
    const cases: Record<string, string | Buffer> = {
      empty: '',
      'not json': 'warren',
      array: `[${text}]`,
      null: 'null',
      'extra field': JSON.stringify({ ...good, extra: 'x' }),
      'missing field': JSON.stringify({ ...good, signature: undefined }),
      'number field': JSON.stringify({ ...good, version: 1 }),
      'other format': JSON.stringify({ ...good, format: 'warren-release-signature/v2' }),
      'bad app id': JSON.stringify({ ...good, app_id: '../etc' }),
      'uppercase digest': JSON.stringify({ ...good, sha256: good.sha256.toUpperCase() }),
      'short signature': JSON.stringify({ ...good, signature: good.signature.slice(0, 40) }),
      'key of 33 bytes': JSON.stringify({ ...good, public_key: Buffer.alloc(33).toString('base64') }),
      'prototype key': `{"__proto__": {"x": 1}, ${text.slice(1)}`,
      'not utf-8': Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      oversized: `${text}${' '.repeat(MAX_SIGNATURE_FILE)}`,
      'huge file': Buffer.alloc(16 * 1024 * 1024, 0x20),
    };
    for (const [name, content] of Object.entries(cases)) {
      const file = join(dir, 'malformed.sig');
      writeFileSync(file, content);
      await assert.rejects(readSignature(file), refusedWith('SIGNATURE_MALFORMED'), name);
    }
    await assert.rejects(readSignature(dir), refusedWith('SIGNATURE_MALFORMED'));
    assert.throws(() => parseSignature('{"format":', 'x'), refusedWith('SIGNATURE_MALFORMED'));
  });

  test('writeSignature replaces an existing signature whole', async () => {
    const file = join(dir, 'replace.sig');
    await writeSignature(file, signReleaseDigest(zipSha, other.privateKey, manifest));
    const sig = signReleaseDigest(zipSha, maintainer.privateKey, manifest);
    await writeSignature(file, sig);
    assert.deepEqual(await readSignature(file), sig);
  });
});
