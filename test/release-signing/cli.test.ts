import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { killAll, type RunResult, runWarren } from '../helpers/processes.js';
import { writeReleaseZip } from './release-zip.js';

/*
 * `warren app keygen|sign|verify` driven for real: the executable, real key
 * files, real zips and signatures; every attack is performed and must be
 * refused with its code, exit 1, no stack trace, and nothing written.
 */

const dir = mkdtempSync(join(tmpdir(), 'warren-release-signing-'));
const at = (...parts: string[]) => join(dir, ...parts);
const noTty = { WARREN_KEY_PASSPHRASE_FILE: '' };
const warren = (args: string[], env: NodeJS.ProcessEnv = noTty) =>
  runWarren(['app', ...args], { env, cwd: dir });

function refused(result: RunResult, code: string): void {
  assert.equal(
    result.code,
    1,
    `expected exit 1 with ${code}; stdout: ${result.stdout}; stderr: ${result.stderr}`,
  );
  assert.match(result.stderr, new RegExp(`\\[${code}\\]`), result.stderr);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

function ok(result: RunResult): void {
  assert.equal(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

const keyIdOf = (stdout: string) => /^key id ([0-9a-f]{16})$/m.exec(stdout)?.[1] ?? assert.fail(stdout);
let aliceId = '';
let malloryId = '';
const notes1 = at('notes-1.0.0.zip');
const notes2 = at('notes-1.1.0.zip');
const todo = at('todo-1.0.0.zip');

before(async () => {
  const alice = await warren(['keygen', '--out', at('alice'), '--comment', 'alice@example']);
  ok(alice);
  aliceId = keyIdOf(alice.stdout);
  const mallory = await warren(['keygen', '--private-key', at('mallory.key')]);
  ok(mallory);
  malloryId = keyIdOf(mallory.stdout);
  await writeReleaseZip(notes1, { id: 'notes', version: '1.0.0' });
  await writeReleaseZip(notes2, { id: 'notes', version: '1.1.0' });
  await writeReleaseZip(todo, { id: 'todo', version: '1.0.0' });
  for (const zip of [notes1, notes2, todo])
    ok(await warren(['sign', zip, '--key', at('alice', 'maintainer.key')]));
});

after(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('warren app keygen', () => {
  test('writes a 0600 private key and the public key line it prints', () => {
    assert.equal(statSync(at('alice', 'maintainer.key')).mode & 0o777, 0o600);
    const line = readFileSync(at('alice', 'maintainer.pub'), 'utf8');
    assert.match(line, /^warren-ed25519 [A-Za-z0-9+/]{43}= alice@example\n$/);
    assert.ok(existsSync(at('mallory.key.pub')));
    assert.notEqual(aliceId, malloryId);
  });

  test('refuses to overwrite an existing key and leaves it unchanged', async () => {
    const before = readFileSync(at('alice', 'maintainer.key'));
    refused(await warren(['keygen', '--out', at('alice')]), 'KEY_FILE_EXISTS');
    assert.deepEqual(readFileSync(at('alice', 'maintainer.key')), before);
  });

  test('--passphrase without a passphrase file or a terminal is refused, and writes nothing', async () => {
    refused(await warren(['keygen', '--passphrase', '--out', at('nopass')]), 'KEY_PASSPHRASE_NEEDED');
    assert.deepEqual(existsSync(at('nopass')) ? readdirSync(at('nopass')) : [], []);
  });
});

describe('warren app sign and verify', () => {
  test('round trip: the signed release verifies against the pinned maintainer key', async () => {
    const signed = JSON.parse(readFileSync(`${notes1}.sig`, 'utf8'));
    assert.equal(signed.app_id, 'notes');
    const result = await warren(['verify', notes1, '--key', at('alice', 'maintainer.pub')]);
    ok(result);
    assert.match(result.stdout, new RegExp(`^OK notes 1\\.0\\.0 .*pinned key ${aliceId}`, 'm'));
    const json = await warren(['verify', notes1, '--key', at('alice', 'maintainer.pub'), '--json']);
    ok(json);
    assert.deepEqual(
      { ...JSON.parse(json.stdout), sha256: undefined },
      { ok: true, key_id: aliceId, pinned: true, app_id: 'notes', version: '1.0.0', sha256: undefined },
    );
  });

  test('without --key it verifies against the key the signature names and says it is not pinned', async () => {
    const result = await warren(['verify', notes1]);
    ok(result);
    assert.match(result.stdout, new RegExp(`by key ${aliceId}, .*not pinned`));
  });

  test("a release signed by another key is refused when the maintainer's key is pinned; both ids printed", async () => {
    const sig = at('notes-1.0.0.mallory.sig');
    ok(await warren(['sign', notes1, '--key', at('mallory.key'), '--out', sig]));
    const result = await warren(['verify', notes1, '--sig', sig, '--key', at('alice', 'maintainer.pub')]);
    refused(result, 'SIGNATURE_WRONG_KEY');
    assert.match(result.stderr, new RegExp(malloryId));
    assert.match(result.stderr, new RegExp(aliceId));
    const json = await warren([
      'verify',
      notes1,
      '--sig',
      sig,
      '--key',
      at('alice', 'maintainer.pub'),
      '--json',
    ]);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout).error.code, 'SIGNATURE_WRONG_KEY');
  });

  test('a zip changed after signing is refused', async () => {
    const zip = at('changed', 'notes-1.0.0.zip');
    mkdirSync(at('changed'));
    await writeReleaseZip(zip, { id: 'notes', version: '1.0.0', description: 'now with a backdoor' });
    copyFileSync(`${notes1}.sig`, `${zip}.sig`);
    refused(await warren(['verify', zip, '--key', at('alice', 'maintainer.pub')]), 'SIGNATURE_OTHER_BYTES');
  });

  test('a signature of another app or another version is refused', async () => {
    for (const sig of [`${todo}.sig`, `${notes2}.sig`]) {
      const result = await warren(['verify', notes1, '--sig', sig, '--key', at('alice', 'maintainer.pub')]);
      refused(result, 'SIGNATURE_OTHER_APP');
    }
  });

  test('a corrupted signature is refused', async () => {
    const sig = JSON.parse(readFileSync(`${notes1}.sig`, 'utf8'));
    const bytes = Buffer.from(sig.signature, 'base64');
    bytes[10]! ^= 0x40;
    const file = at('corrupted.sig');
    writeFileSync(file, JSON.stringify({ ...sig, signature: bytes.toString('base64') }));
    refused(await warren(['verify', notes1, '--sig', file]), 'SIGNATURE_INVALID');
  });

  test('malformed and oversized signature files are refused without crashing', async () => {
    const file = at('malformed.sig');
    for (const content of ['{"format": "warren-release-signature/v1"', 'x'.repeat(1024 * 1024)]) {
      writeFileSync(file, content);
      refused(await warren(['verify', notes1, '--sig', file]), 'SIGNATURE_MALFORMED');
    }
  });

  test('a release without its signature file is refused', async () => {
    const zip = at('unsigned.zip');
    copyFileSync(notes1, zip);
    refused(await warren(['verify', zip]), 'SIGNATURE_MISSING');
  });

  test('an invalid release is not signed', async () => {
    const zip = at('escape.zip');
    await writeReleaseZip(zip, { id: 'escape', version: '1.0.0', serviceExtra: '    privileged: true' });
    refused(await warren(['sign', zip, '--key', at('alice', 'maintainer.key')]), 'COMPOSE_FORBIDDEN_KEY');
    assert.equal(existsSync(`${zip}.sig`), false);
  });

  test('a private key readable by others is refused, and nothing is signed', async () => {
    const key = at('open.key');
    ok(await warren(['keygen', '--private-key', key]));
    chmodSync(key, 0o644);
    const zip = at('open-key.zip');
    copyFileSync(notes1, zip);
    refused(await warren(['sign', zip, '--key', key]), 'KEY_PERMISSIONS_TOO_OPEN');
    assert.equal(existsSync(`${zip}.sig`), false);
  });

  test('a passphrase-protected key: from WARREN_KEY_PASSPHRASE_FILE; wrong or missing refused', async () => {
    const key = at('locked.key');
    const right = at('right.pass');
    const wrong = at('wrong.pass');
    writeFileSync(right, 'correct horse battery\n', { mode: 0o600 });
    writeFileSync(wrong, 'incorrect horse\n', { mode: 0o600 });
    const made = await warren(['keygen', '--private-key', key, '--passphrase'], {
      WARREN_KEY_PASSPHRASE_FILE: right,
    });
    ok(made);
    assert.match(readFileSync(key, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const zip = at('locked.zip');
    copyFileSync(notes1, zip);
    refused(await warren(['sign', zip, '--key', key]), 'KEY_PASSPHRASE_NEEDED');
    refused(
      await warren(['sign', zip, '--key', key], { WARREN_KEY_PASSPHRASE_FILE: wrong }),
      'KEY_PASSPHRASE_WRONG',
    );
    assert.equal(existsSync(`${zip}.sig`), false);
    ok(await warren(['sign', zip, '--key', key], { WARREN_KEY_PASSPHRASE_FILE: right }));
    const verified = await warren(['verify', zip, '--key', `${key}.pub`]);
    ok(verified);
    assert.match(verified.stdout, new RegExp(`pinned key ${keyIdOf(made.stdout)}`));
  });
});
