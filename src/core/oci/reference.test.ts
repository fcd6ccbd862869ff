import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatImageReference, parseImageReference } from './reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseImageReference', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['someone/app:v2', 'docker.io/someone/app:v2'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/someone/app', 'docker.io/someone/app:latest'],
    ['registry.example.com/team/app:1', 'registry.example.com/team/app:1'],
    ['127.0.0.1:5000/app:1', '127.0.0.1:5000/app:1'],
    ['localhost/app', 'localhost/app:latest'],
    [`app@${D}`, `docker.io/library/app@${D}`],
    [`reg.example:443/a/b/c:t@${D}`, `reg.example:443/a/b/c:t@${D}`],
  ];
  for (const [input, full] of cases) {
    test(`${input} -> ${full}`, () => assert.equal(formatImageReference(parseImageReference(input)), full));
  }

  test('a first component without . or : is a Docker Hub namespace, not a registry', () => {
    const ref = parseImageReference('team/app');
    assert.equal(ref.registry, 'docker.io');
    assert.equal(ref.repository, 'team/app');
  });

  for (const bad of [
    '',
    'App',
    'app:',
    'app:-x',
    'app@sha256:12',
    `app@sha512:${'a'.repeat(128)}`,
    'a//b',
    'reg.example/',
    'a b',
  ]) {
    test(`refuses '${bad}'`, () =>
      assert.throws(() => parseImageReference(bad), /BAD_IMAGE_REFERENCE|image reference/));
  }
});
