import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkEntryName, decodeEntryName, foldEntryName } from './paths.js';
import { ReleaseError } from './types.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ReleaseError);
    return err.code;
  }
}

test('accepts plain release names', () => {
  for (const name of ['app.yml', 'docker-compose.yml', 'icon.svg', 'sub/file', 'café.yml']) {
    assert.equal(
      codeOf(() => checkEntryName(name)),
      undefined,
      name,
    );
  }
});

test('refuses names that escape a folder or mean different things to different tools', () => {
  const cases: Array<[string, string]> = [
    ['', 'ZIP_BAD_NAME'],
    ['app.yml\0', 'ZIP_BAD_NAME'],
    ['a\nb', 'ZIP_BAD_NAME'],
    ['a\u0085b', 'ZIP_BAD_NAME'],
    ['../x', 'ZIP_SLIP'],
    ['a/../../x', 'ZIP_SLIP'],
    ['a/..', 'ZIP_SLIP'],
    ['/etc/passwd', 'ZIP_SLIP'],
    ['C:/x', 'ZIP_SLIP'],
    ['c:x', 'ZIP_SLIP'],
    ['a\\b', 'ZIP_SLIP'],
    ['\uff0e\uff0e/x', 'ZIP_SLIP'],
    ['a\uff0fb', 'ZIP_SLIP'],
    ['\uff23\uff1a/x', 'ZIP_SLIP'],
  ];
  for (const [name, code] of cases)
    assert.equal(
      codeOf(() => checkEntryName(name)),
      code,
      JSON.stringify(name),
    );
});

test('folds case and Unicode forms to one key', () => {
  assert.equal(foldEntryName('App.YML'), foldEntryName('app.yml'));
  assert.equal(foldEntryName('caf\u00e9'), foldEntryName('cafe\u0301'));
  assert.equal(foldEntryName('\uff41pp.yml'), foldEntryName('app.yml'));
  assert.notEqual(foldEntryName('app.yml'), foldEntryName('app.yaml'));
});

test('decodes names as UTF-8 only when flagged, and refuses a second name in an extra field', () => {
  assert.equal(decodeEntryName(Buffer.from('café'), 0x800, []), 'café');
  assert.equal(
    codeOf(() => decodeEntryName(Buffer.from('café'), 0, [])),
    'ZIP_BAD_NAME',
  );
  assert.equal(
    codeOf(() => decodeEntryName(Buffer.from([0xff, 0xfe]), 0x800, [])),
    'ZIP_BAD_NAME',
  );
  assert.equal(
    codeOf(() => decodeEntryName(Buffer.from('a'), 0, [0x7075])),
    'ZIP_BAD_NAME',
  );
  assert.equal(decodeEntryName(Buffer.from('app.yml'), 0, [0x5455]), 'app.yml');
});
