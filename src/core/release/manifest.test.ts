import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifest } from './manifest.js';
import { ReleaseError } from './types.js';

const valid = {
  id: 'notes',
  name: 'Notes',
  version: '1.0.0',
  maintainer: 'Jane',
  description: 'Notes.\nMore notes.',
  main_service: 'web',
  internal_port: 8080,
  url_path: '/notes/',
  health_check_path: '/healthz',
};

function refusal(patch: Record<string, unknown>): string | undefined {
  try {
    parseManifest({ ...valid, ...patch });
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ReleaseError, String(err));
    return err.where;
  }
}

test('maps the snake_case document to the AppManifest', () => {
  assert.deepEqual(parseManifest({ ...valid, icon: 'icon.svg' }), {
    id: 'notes',
    name: 'Notes',
    version: '1.0.0',
    maintainer: 'Jane',
    description: 'Notes.\nMore notes.',
    mainService: 'web',
    internalPort: 8080,
    urlPath: '/notes/',
    healthCheckPath: '/healthz',
    icon: 'icon.svg',
  });
});

test('refuses bad fields, naming the key', () => {
  assert.equal(refusal({ id: 'Notes' }), 'app.yml: id');
  assert.equal(refusal({ id: 'n' }), 'app.yml: id');
  assert.equal(refusal({ version: '1.0.0.0' }), 'app.yml: version');
  assert.equal(refusal({ version: 'v1.0.0' }), 'app.yml: version');
  assert.equal(refusal({ internal_port: 0 }), 'app.yml: internal_port');
  assert.equal(refusal({ internal_port: 80.5 }), 'app.yml: internal_port');
  assert.equal(refusal({ internal_port: '80' }), 'app.yml: internal_port');
  assert.equal(refusal({ url_path: '/a/../b' }), 'app.yml: url_path');
  assert.equal(refusal({ url_path: '/a/%2e%2e/b' }), 'app.yml: url_path');
  assert.equal(refusal({ health_check_path: '/a?b' }), 'app.yml: health_check_path');
  assert.equal(refusal({ name: 'a\u0000b' }), 'app.yml: name');
  assert.equal(refusal({ icon: 'icon.gif' }), 'app.yml: icon');
  assert.equal(refusal({ extra: 1 }), 'app.yml: "extra"');
  assert.throws(() => parseManifest(['id']), ReleaseError);
});

test('resources: memory in Docker units, cpus and pids', () => {
  const parse = (resources: unknown) => parseManifest({ ...valid, resources }).resources;
  assert.deepEqual(parse({ memory: '256m', cpus: 0.5, pids: 256 }), {
    memoryBytes: 256 * 1024 * 1024,
    cpus: 0.5,
    pids: 256,
  });
  assert.deepEqual(parse({ memory: 268435456 }), { memoryBytes: 268435456 });
  assert.deepEqual(parse({ memory: '1.5G' }), { memoryBytes: 1.5 * 1024 ** 3 });
  assert.deepEqual(parse({ memory: '512MiB' }), { memoryBytes: 512 * 1024 ** 2 });
  assert.deepEqual(parse({ memory: '64 mb' }), { memoryBytes: 64 * 1024 ** 2 });
  assert.deepEqual(parse({}), {});
  assert.equal(parseManifest(valid).resources, undefined);
});

test('resources: refuses what Docker would not take, naming the key', () => {
  assert.equal(refusal({ resources: { memory: '5m' } }), 'app.yml: resources.memory');
  assert.equal(refusal({ resources: { memory: '256x' } }), 'app.yml: resources.memory');
  assert.equal(refusal({ resources: { memory: '-1m' } }), 'app.yml: resources.memory');
  assert.equal(refusal({ resources: { memory: 1.5 } }), 'app.yml: resources.memory');
  assert.equal(refusal({ resources: { cpus: 0 } }), 'app.yml: resources.cpus');
  assert.equal(refusal({ resources: { cpus: 0.005 } }), 'app.yml: resources.cpus');
  assert.equal(refusal({ resources: { cpus: 300 } }), 'app.yml: resources.cpus');
  assert.equal(refusal({ resources: { cpus: '1' } }), 'app.yml: resources.cpus');
  assert.equal(refusal({ resources: { pids: 0 } }), 'app.yml: resources.pids');
  assert.equal(refusal({ resources: { pids: 2.5 } }), 'app.yml: resources.pids');
  assert.equal(refusal({ resources: { disk: '1g' } }), 'app.yml: resources.disk');
  assert.equal(refusal({ resources: 'lots' }), 'app.yml: resources');
});
