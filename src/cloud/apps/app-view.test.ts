import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WarrenError } from '../../core/errors.js';
import type { ValidatedRelease } from '../../core/release/types.js';
import type { AppsTable } from '../db/schema.js';
import {
  appDetailJson,
  appJson,
  appRoute,
  failureDetail,
  hasRelease,
  parseImages,
  releasePermissions,
  serviceImages,
  urlPathOf,
} from './app-view.js';

const ID = `sha256:${'a'.repeat(64)}`;

function row(patch: Partial<AppsTable> = {}): AppsTable {
  return {
    id: 'hello',
    name: 'Hello',
    version: '1.0.0',
    sha256: 'b'.repeat(64),
    maintainer_key: 'k',
    official: 1,
    state: 'running',
    state_detail: '',
    access_mode: 'all',
    manifest: JSON.stringify({ id: 'hello', urlPath: '/app/' }),
    compose_yaml: '',
    images: '{}',
    installed_at: '',
    updated_at: '',
    ...patch,
  };
}

describe('app views', () => {
  it('shows a row as the API does', () => {
    assert.deepEqual(appJson(row(), 'https://hello.example.test/app/'), {
      id: 'hello',
      name: 'Hello',
      version: '1.0.0',
      state: 'running',
      state_detail: '',
      url: 'https://hello.example.test/app/',
      official: true,
      access_mode: 'all',
    });
    const detail = appDetailJson(row(), 'u', {
      appId: 'hello',
      state: 'running',
      services: [{ service: 'web', containerId: 'c', state: 'running', health: 'none', exitCode: null }],
    });
    assert.equal(detail.health, 'running');
    assert.deepEqual(detail.services, [{ name: 'web', state: 'running', health: 'none', exit_code: null }]);
    assert.equal(appDetailJson(row({ state: 'fetching' }), 'u', undefined).health, null);
  });

  it('reads the url path, images and whether a release was verified', () => {
    assert.equal(urlPathOf(row()), '/app/');
    assert.equal(urlPathOf(row({ manifest: '{}' })), '/');
    assert.equal(urlPathOf(row({ manifest: 'not json' })), '/');
    assert.deepEqual(parseImages(JSON.stringify({ web: ID, bad: 'latest', n: 1 })), { web: ID });
    assert.deepEqual(parseImages('[1]'), {});
    assert.deepEqual(parseImages('{'), {});
    assert.equal(hasRelease(row()), true);
    assert.equal(hasRelease(row({ manifest: '{}' })), false);
  });

  it('summarises what a release asks for', () => {
    const release = {
      manifest: { mainService: 'web', internalPort: 8080, resources: { memoryBytes: 256, cpus: 4 } },
      compose: {
        services: { web: { image: 'example.org/web:1' }, db: { image: 'example.org/db@sha256:00' } },
        volumes: { data: null },
      },
    } as unknown as ValidatedRelease;
    assert.deepEqual(releasePermissions(release, { memoryBytes: 512, cpus: 1.5, pids: 100 }), {
      services: [
        { name: 'web', image: 'example.org/web:1' },
        { name: 'db', image: 'example.org/db@sha256:00' },
      ],
      volumes: ['data'],
      main_service: 'web',
      port: 8080,
      resources: { memory_bytes: 256, cpus: 1.5, pids: 100 },
    });
    assert.throws(() => serviceImages({ services: { web: {} } }), { code: 'COMPOSE_INVALID' });
  });

  it('names the failing step and the error code', () => {
    assert.equal(
      failureDetail('fetching', new WarrenError('SIGNATURE_WRONG_KEY', 'signed by x', 422)),
      'fetching failed: SIGNATURE_WRONG_KEY: signed by x',
    );
    assert.equal(failureDetail('loading', new Error('boom')), 'loading failed: INTERNAL: boom');
  });

  it('routes a running app to its target, and anything else to a clear page', () => {
    assert.deepEqual(appRoute(row(), { host: '172.20.0.2', port: 8080 }, undefined), {
      kind: 'running',
      host: '172.20.0.2',
      port: 8080,
      urlPath: '/app/',
    });
    const unavailable = (patch: Partial<AppsTable>, status?: 'starting' | 'unhealthy' | 'stopped') => {
      const route = appRoute(
        row(patch),
        undefined,
        status ? { appId: 'hello', state: status, services: [] } : undefined,
      );
      assert.equal(route.kind, 'unavailable');
      return route.kind === 'unavailable' ? route : undefined;
    };
    assert.equal(unavailable({ state: 'loading' })?.status, 'installing');
    assert.equal(unavailable({ state: 'stopped' })?.status, 'stopped');
    assert.equal(unavailable({ state: 'removing' })?.status, 'stopped');
    assert.match(
      unavailable({ state: 'failed', state_detail: 'loading failed: X: y' })?.message ?? '',
      /loading failed/,
    );
    assert.equal(unavailable({}, 'starting')?.status, 'starting');
    assert.equal(unavailable({}, 'unhealthy')?.status, 'unhealthy');
    assert.match(unavailable({}, 'stopped')?.message ?? '', /should be running/);
  });
});
