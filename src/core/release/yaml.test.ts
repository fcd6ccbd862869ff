import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReleaseError } from './types.js';
import { parseReleaseYaml } from './yaml.js';

function refusal(text: string | Buffer, max = 1024 * 1024): string {
  try {
    parseReleaseYaml('t.yml', Buffer.isBuffer(text) ? text : Buffer.from(text), max);
  } catch (err) {
    assert.ok(err instanceof ReleaseError, String(err));
    return err.code;
  }
  return 'accepted';
}

test('parses one plain document', () => {
  assert.deepEqual(
    parseReleaseYaml('t.yml', Buffer.from('a: 1\nb: [x, "y"]\nc: {d: null}\non: yes\n'), 100),
    {
      a: 1,
      b: ['x', 'y'],
      c: { d: null },
      on: 'yes',
    },
  );
});

test('refuses what the format does not need and what could hurt', () => {
  assert.equal(refusal('a: 1\n', 3), 'YAML_TOO_LARGE');
  assert.equal(refusal(Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a])), 'YAML_NOT_UTF8');
  assert.equal(refusal('a: &x [1]\nb: *x\n'), 'YAML_ALIAS');
  assert.equal(refusal('a: &x 1\n'), 'YAML_ALIAS');
  assert.equal(refusal('a: 1\nb: 2\na: 3\n'), 'YAML_DUPLICATE_KEY');
  assert.equal(refusal('a: 1\n---\na: 2\n'), 'YAML_MULTI_DOCUMENT');
  assert.equal(refusal('# only a comment\n'), 'YAML_INVALID');
  assert.equal(refusal('a: !!binary aGk=\n'), 'YAML_TAG');
  assert.equal(refusal('a: !custom x\n'), 'YAML_TAG');
  assert.equal(refusal('? [a]\n: b\n'), 'YAML_SYNTAX');
  assert.equal(refusal('a: [\n'), 'YAML_SYNTAX');
  assert.equal(refusal(`a: ${'['.repeat(100)}${']'.repeat(100)}\n`), 'YAML_TOO_DEEP');
  let nested = 'x: 1\n';
  for (let i = 0; i < 40; i++) nested = `k:\n${nested.replace(/^/gm, '  ')}`;
  assert.equal(refusal(nested), 'YAML_TOO_DEEP');
});

test('an alias bomb is refused before anything is expanded', () => {
  const lines = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 12; i++) {
    const prev = String.fromCharCode(96 + i);
    const next = String.fromCharCode(97 + i);
    lines.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  const before = process.memoryUsage().heapUsed;
  assert.equal(refusal(lines.join('\n')), 'YAML_ALIAS');
  assert.ok(process.memoryUsage().heapUsed - before < 32 * 1024 * 1024);
});
