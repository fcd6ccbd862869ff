import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isWarrenError } from '../errors.js';
import {
  encodePrivateKeyPem,
  generateMaintainerKey,
  keyId,
  parsePublicKeyLine,
  rawPublicKey,
  readPrivateKey,
  readPublicKeyFile,
  writeKeyPair,
} from './keys.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const mode = (path: string) => statSync(path).mode & 0o777;
const rejectsWith = (code: string) => (err: unknown) => isWarrenError(err, code);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Same bytes, other text: sets the unused low bits of the last character before '='. */
const nonCanonical = (b64: string) => `${b64.slice(0, 42)}${ALPHABET[ALPHABET.indexOf(b64[42]!) | 1]}=`;
const paths = (name: string) => ({
  privateKey: join(dir, `${name}.key`),
  publicKey: join(dir, `${name}.pub`),
});

describe('maintainer keys', () => {
  test('key pair round trip: 0600 private key, one-line public key, same key id both ways', async () => {
    const pair = generateMaintainerKey();
    const p = paths('plain');
    const info = await writeKeyPair(p, pair, 'alice@example');
    assert.equal(mode(p.privateKey), 0o600);
    assert.match(readFileSync(p.privateKey, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    const line = readFileSync(p.publicKey, 'utf8');
    assert.match(line, /^warren-ed25519 [A-Za-z0-9+/]{43}= alice@example\n$/);
    assert.equal(info.keyId, keyId(rawPublicKey(pair.publicKey)));
    assert.match(info.keyId, /^[0-9a-f]{16}$/);
    const read = await readPrivateKey(p.privateKey);
    assert.deepEqual(rawPublicKey(read), rawPublicKey(pair.publicKey));
    const pub = await readPublicKeyFile(p.publicKey);
    assert.equal(pub.keyId, info.keyId);
    assert.equal(pub.comment, 'alice@example');
  });

  test('refuses to overwrite an existing private or public key file, and leaves both intact', async () => {
    const p = paths('taken');
    await writeKeyPair(p, generateMaintainerKey(), 'first');
    const before = [readFileSync(p.privateKey), readFileSync(p.publicKey)];
    await assert.rejects(writeKeyPair(p, generateMaintainerKey(), 'second'), rejectsWith('KEY_FILE_EXISTS'));
    // the private key is new, the public one exists: the new private key must not be left behind
    const fresh = { privateKey: join(dir, 'fresh.key'), publicKey: p.publicKey };
    await assert.rejects(
      writeKeyPair(fresh, generateMaintainerKey(), 'third'),
      rejectsWith('KEY_FILE_EXISTS'),
    );
    assert.equal(existsSync(fresh.privateKey), false);
    assert.deepEqual([readFileSync(p.privateKey), readFileSync(p.publicKey)], before);
  });

  test('does not follow a symlink planted where the private key goes', async () => {
    const target = join(dir, 'victim');
    writeFileSync(target, 'precious');
    const link = join(dir, 'link.key');
    symlinkSync(target, link);
    await assert.rejects(
      writeKeyPair({ privateKey: link, publicKey: join(dir, 'link.pub') }, generateMaintainerKey(), ''),
    );
    assert.equal(readFileSync(target, 'utf8'), 'precious');
  });

  test('refuses to read a private key file its group or others can read', async () => {
    const p = paths('open');
    await writeKeyPair(p, generateMaintainerKey(), '');
    for (const bad of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(p.privateKey, bad);
      await assert.rejects(readPrivateKey(p.privateKey), (err: unknown) => {
        assert.ok(isWarrenError(err, 'KEY_PERMISSIONS_TOO_OPEN'));
        assert.match(err.message, new RegExp(`mode 0${bad.toString(8)}`));
        return true;
      });
    }
    chmodSync(p.privateKey, 0o400);
    await readPrivateKey(p.privateKey);
  });

  test('an encrypted key (PKCS#8, PBES2 with scrypt) needs its passphrase; a wrong one is refused', async () => {
    const pair = generateMaintainerKey();
    const p = paths('encrypted');
    await writeKeyPair(p, pair, '', 'correct horse');
    const pem = readFileSync(p.privateKey, 'utf8');
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    assert.equal(
      pem.includes(pair.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64')),
      false,
    );
    await assert.rejects(readPrivateKey(p.privateKey), rejectsWith('KEY_PASSPHRASE_NEEDED'));
    await assert.rejects(
      readPrivateKey(p.privateKey, async () => 'wrong horse'),
      rejectsWith('KEY_PASSPHRASE_WRONG'),
    );
    let asked = 0;
    const key = await readPrivateKey(p.privateKey, async () => {
      asked++;
      return 'correct horse';
    });
    assert.equal(asked, 1);
    assert.deepEqual(rawPublicKey(key), rawPublicKey(pair.publicKey));
  });

  test('the encryption is standard: OpenSSL reads it and names scrypt as the KDF', {
    skip: noOpenssl(),
  }, () => {
    const pem = encodePrivateKeyPem(generateMaintainerKey().privateKey, 'pw');
    const file = join(dir, 'openssl.pem');
    writeFileSync(file, pem, { mode: 0o600 });
    const parsed = execFileSync('openssl', ['asn1parse', '-in', file], { encoding: 'utf8' });
    assert.match(parsed, /:PBES2/);
    assert.match(parsed, /:scrypt/);
    assert.match(parsed, /:aes-256-cbc/);
  });

  test('a passphrase is never asked for an unencrypted key', async () => {
    const p = paths('unasked');
    await writeKeyPair(p, generateMaintainerKey(), '');
    await readPrivateKey(p.privateKey, async () => assert.fail('asked for a passphrase'));
  });

  test('refuses files that are not private keys: other types, garbage, huge, not regular', async () => {
    const write = (name: string, content: string | Buffer) => {
      const path = join(dir, name);
      writeFileSync(path, content, { mode: 0o600 });
      return path;
    };
    const { generateKeyPairSync } = await import('node:crypto');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    await assert.rejects(readPrivateKey(write('ec.key', ec)), rejectsWith('KEY_NOT_ED25519'));
    await assert.rejects(readPrivateKey(write('junk.key', 'hello')), rejectsWith('KEY_MALFORMED'));
    await assert.rejects(
      readPrivateKey(write('bad.key', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')),
      rejectsWith('KEY_MALFORMED'),
    );
    await assert.rejects(
      readPrivateKey(write('huge.key', Buffer.alloc(1 << 20, 65))),
      rejectsWith('KEY_MALFORMED'),
    );
    await assert.rejects(readPrivateKey(dir), rejectsWith('KEY_MALFORMED'));
    await assert.rejects(readPrivateKey(join(dir, 'absent.key')), rejectsWith('KEY_FILE_MISSING'));
  });

  test('public key lines are parsed strictly', () => {
    const raw = rawPublicKey(generateMaintainerKey().publicKey);
    const b64 = raw.toString('base64');
    assert.equal(parsePublicKeyLine(`warren-ed25519 ${b64} a b c\n`, 'x').comment, 'a b c');
    assert.equal(parsePublicKeyLine(`warren-ed25519 ${b64}`, 'x').keyId, keyId(raw));
    for (const bad of [
      `ssh-ed25519 ${b64} c`,
      `warren-ed25519 ${nonCanonical(b64)} c`, // decodes to the same bytes, spelled differently
      `warren-ed25519 ${Buffer.alloc(33).toString('base64')} c`,
      `warren-ed25519 ${b64} c\nwarren-ed25519 ${b64} d`,
      `warren-ed25519 ${b64} tab\there`,
      `warren-ed25519  ${b64}`,
      '',
    ]) {
      assert.throws(
        () => parsePublicKeyLine(bad, 'x.pub'),
        rejectsWith('KEY_MALFORMED'),
        JSON.stringify(bad),
      );
    }
  });
});

/** Skip reason without the openssl CLI (.ci/run installs it; under CI its absence is an error). */
function noOpenssl(): string | undefined {
  if (spawnSync('openssl', ['version']).status === 0) return undefined;
  if (process.env.CI) throw new Error('openssl is not installed, and CI must not skip tests');
  return 'the openssl command is not installed';
}
