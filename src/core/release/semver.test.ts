import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareSemver, isSemver, parseSemver } from './semver.js';

test('parses strict semver 2.0 versions into their parts', () => {
  assert.deepEqual(parseSemver('1.2.3'), { major: 1, minor: 2, patch: 3, prerelease: [], build: [] });
  assert.deepEqual(parseSemver('1.0.0-alpha.1+build.5'), {
    major: 1,
    minor: 0,
    patch: 0,
    prerelease: ['alpha', 1],
    build: ['build', '5'],
  });
  assert.deepEqual(parseSemver('0.0.0-0a.x-y'), {
    major: 0,
    minor: 0,
    patch: 0,
    prerelease: ['0a', 'x-y'],
    build: [],
  });
  assert.ok(isSemver('10.20.30+001'), 'build identifiers may have leading zeros');
});

test('refuses loose, partial and hostile versions', () => {
  for (const bad of [
    '',
    '1',
    '1.2',
    '1.2.3.4',
    'v1.2.3',
    '01.2.3',
    '1.02.3',
    '1.2.03',
    '1.2.3-01',
    '1.2.3-',
    '1.2.3+',
    '1.2.3-a..b',
    '1.2.3-a_b',
    ' 1.2.3',
    '1.2.3 ',
    '1.2.3-é',
    '99999999999999999999.0.0',
    `1.2.3-${'a'.repeat(200)}`,
    '1.2.3+a+b',
  ]) {
    assert.equal(isSemver(bad), false, JSON.stringify(bad));
  }
});

test('orders versions by semver precedence', () => {
  const ordered = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.1.0',
    '1.10.0',
    '2.0.0',
  ];
  const shuffled = [...ordered].reverse();
  assert.deepEqual(shuffled.sort(compareSemver), ordered);
  for (let i = 0; i + 1 < ordered.length; i++) {
    assert.ok(compareSemver(ordered[i]!, ordered[i + 1]!) < 0, `${ordered[i]} < ${ordered[i + 1]}`);
    assert.ok(compareSemver(ordered[i + 1]!, ordered[i]!) > 0);
  }
  assert.equal(compareSemver('1.0.0+a', '1.0.0+b'), 0, 'build metadata does not order');
  assert.throws(() => compareSemver('1.0', '1.0.0'), TypeError);
});
