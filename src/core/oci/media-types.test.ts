import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  hostPlatform,
  OCI_INDEX,
  OCI_MANIFEST,
  parseManifest,
  selectPlatform,
} from './media-types.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('parseManifest', () => {
  test('Docker schema 2 image manifest', () => {
    const m = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('a'), size: 10 },
        layers: [
          { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('b'), size: 20 },
        ],
      }),
    );
    assert.equal(m.kind, 'image');
    assert.ok(m.kind === 'image' && m.config.digest === d('a') && m.layers[0]!.size === 20);
  });

  test('OCI manifest without mediaType: from Content-Type, else from its shape', () => {
    const body = json({ schemaVersion: 2, config: { digest: d('a'), size: 1 }, layers: [] });
    assert.equal(parseManifest(body, `${OCI_MANIFEST}; charset=utf-8`).mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(body).mediaType, OCI_MANIFEST);
    const index = json({ schemaVersion: 2, manifests: [] });
    assert.equal(parseManifest(index).mediaType, OCI_INDEX);
  });

  test('Docker manifest list with platforms', () => {
    const m = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST_LIST,
        manifests: [
          {
            mediaType: DOCKER_MANIFEST,
            digest: d('1'),
            size: 5,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: DOCKER_MANIFEST,
            digest: d('2'),
            size: 5,
            platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
          },
        ],
      }),
    );
    assert.ok(m.kind === 'index' && m.manifests.length === 2 && m.manifests[1]!.platform!.variant === 'v8');
  });

  const bad: [string, unknown][] = [
    ['schema 1', { schemaVersion: 1 }],
    ['a bad digest', { schemaVersion: 2, config: { digest: 'sha256:zz', size: 1 }, layers: [] }],
    ['a negative size', { schemaVersion: 2, config: { digest: d('a'), size: -1 }, layers: [] }],
    ['no layers', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: d('a'), size: 1 } }],
    ['an unknown type', { schemaVersion: 2, mediaType: 'text/plain', layers: [] }],
  ];
  for (const [name, doc] of bad)
    test(`refuses ${name}`, () => assert.throws(() => parseManifest(json(doc)), /manifest/));
  test('refuses what is not JSON', () => assert.throws(() => parseManifest(Buffer.from('{')), /not JSON/));
});

describe('selectPlatform', () => {
  const entry = (architecture: string, variant?: string, os = 'linux') => ({
    mediaType: OCI_MANIFEST,
    digest: d(architecture === 'amd64' ? '1' : variant === 'v7' ? '3' : '2'),
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const list = [entry('unknown', undefined, 'unknown'), entry('amd64'), entry('arm64'), entry('arm', 'v7')];

  test('exact OS and architecture', () =>
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'amd64' }), list[1]));
  test('arm64 v8 matches an entry without variant', () =>
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 'arm64', variant: 'v8' }), list[2]));
  test('a missing platform is undefined, attestations never match', () => {
    assert.equal(selectPlatform(list, { os: 'linux', architecture: 's390x' }), undefined);
    assert.equal(selectPlatform(list, { os: 'unknown', architecture: 'amd64' }), undefined);
  });
  test('host platform in OCI terms', () => {
    assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(hostPlatform('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  });
});
