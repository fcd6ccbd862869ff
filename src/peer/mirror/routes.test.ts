import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Upstreams } from '../../core/oci/upstreams.js';
import { OciError, parseRange, routeRequest } from './routes.js';

const D = `sha256:${'c'.repeat(64)}`;
const upstreams = new Upstreams([
  { host: 'docker.io', url: 'http://127.0.0.1:5001', alias: '', username: '', passwordFile: '' },
  { host: 'registry.example:5000', url: '', alias: 'corp', username: '', passwordFile: '' },
]);
const route = (path: string, defaultRegistry = 'docker.io') => {
  const url = new URL(path, 'http://mirror');
  return routeRequest(url.pathname, url.searchParams, upstreams, defaultRegistry);
};
const fails = (path: string, code: string, defaultRegistry?: string) =>
  assert.throws(
    () => route(path, defaultRegistry),
    (e) => e instanceof OciError && e.code === code,
  );

describe('mirror routing', () => {
  test('/v2/ is the API base', () => {
    assert.deepEqual(route('/v2/'), { kind: 'base' });
    assert.deepEqual(route('/v2'), { kind: 'base' });
  });
  test("Docker's registry-mirrors: Docker Hub names go to the default registry", () => {
    const r = route('/v2/library/app/manifests/1');
    assert.ok(r.kind === 'manifests');
    assert.equal(r.upstream.host, 'docker.io');
    assert.equal(r.upstream.url, 'http://127.0.0.1:5001');
    assert.equal(r.repository, 'library/app');
    assert.equal(r.reference, '1');
  });
  test('mirror-host/<repo>:<tag>: one-component Docker Hub names get library/', () => {
    const r = route('/v2/app/manifests/1');
    assert.ok(r.kind === 'manifests' && r.repository === 'library/app');
  });
  test("containerd's ?ns= picks the upstream and is not part of the route", () => {
    const r = route(`/v2/team/app/blobs/${D}?ns=registry.example:5000`);
    assert.ok(r.kind === 'blobs');
    assert.equal(r.upstream.host, 'registry.example:5000');
    assert.equal(r.upstream.url, 'https://registry.example:5000');
    assert.equal(r.repository, 'team/app');
    assert.equal(r.reference, D);
    const hub = route(`/v2/library/app/blobs/${D}?ns=docker.io`);
    assert.ok(hub.kind === 'blobs' && hub.upstream.host === 'docker.io');
  });
  test('an alias as first component: mirror-host/<alias>/<repo>', () => {
    const r = route('/v2/corp/team/app/manifests/v1');
    assert.ok(
      r.kind === 'manifests' && r.upstream.host === 'registry.example:5000' && r.repository === 'team/app',
    );
  });
  test('unknown upstreams are NAME_UNKNOWN', () => {
    fails('/v2/app/manifests/1?ns=evil.example', 'NAME_UNKNOWN');
    fails('/v2/app/manifests/1', 'NAME_UNKNOWN', 'nothing.example');
  });
  test('bad names, references and other routes', () => {
    fails('/v2/App/manifests/1', 'NAME_INVALID');
    fails('/v2/app/blobs/latest', 'DIGEST_INVALID');
    fails('/v2/app/manifests/-bad', 'MANIFEST_INVALID');
    fails('/v2/_catalog', 'UNSUPPORTED');
    fails('/v2/app/tags/list', 'UNSUPPORTED');
    fails('/v2/app/blobs/uploads/', 'UNSUPPORTED');
  });
  test('OCI error JSON', () => {
    assert.deepEqual(new OciError(404, 'NAME_UNKNOWN', 'x').toJSON(), {
      errors: [{ code: 'NAME_UNKNOWN', message: 'x', detail: null }],
    });
  });
});

test('parseRange', () => {
  assert.deepEqual(parseRange('bytes=0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=100-'), { start: 100 });
  assert.equal(parseRange(undefined), undefined);
  assert.equal(parseRange('bytes=-100'), undefined, 'suffix ranges: whole content');
  assert.equal(parseRange('bytes=0-1,5-6'), undefined, 'several ranges: whole content');
  assert.equal(parseRange('bytes=9-3'), undefined);
  assert.equal(parseRange('items=0-1'), undefined);
});
