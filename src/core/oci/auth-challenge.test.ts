import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseWwwAuthenticate, pullScope, TokenCache } from './auth-challenge.js';

describe('parseWwwAuthenticate', () => {
  test('a registry Bearer challenge', () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    );
    assert.deepEqual(c, {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/busybox:pull',
      },
    });
  });
  test('quoted commas, escaped quotes, bare tokens, spaces and case', () => {
    const [c] = parseWwwAuthenticate(
      'bearer Realm = "https://a/t" , scope="repository:a:pull,push", x=tok, y="q\\"uote"',
    );
    assert.equal(c!.params.realm, 'https://a/t');
    assert.equal(c!.params.scope, 'repository:a:pull,push');
    assert.equal(c!.params.x, 'tok');
    assert.equal(c!.params.y, 'q"uote');
  });
  test('Basic, and several challenges', () => {
    const list = parseWwwAuthenticate(['Basic realm="basic-realm"', 'Bearer realm="https://t", service="s"']);
    assert.deepEqual(
      list.map((c) => c.scheme),
      ['basic', 'bearer'],
    );
    const both = parseWwwAuthenticate('Basic realm="r", Bearer realm="https://t"');
    assert.deepEqual(
      both.map((c) => [c.scheme, c.params.realm]),
      [
        ['basic', 'r'],
        ['bearer', 'https://t'],
      ],
    );
  });
  test('garbage gives what could be read, never throws', () => {
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.equal(parseWwwAuthenticate('Bearer realm="unterminated')[0]!.scheme, 'bearer');
  });
});

test('pullScope of registry API paths', () => {
  assert.equal(
    pullScope(`/v2/library/busybox/blobs/sha256:${'a'.repeat(64)}`),
    'repository:library/busybox:pull',
  );
  assert.equal(pullScope('/v2/a/b/c/manifests/latest'), 'repository:a/b/c:pull');
  assert.equal(pullScope('/v2/'), undefined);
});

describe('TokenCache', () => {
  test('a token lives until shortly before its expiry, per registry and scope', () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    cache.set('r1', 'repository:a:pull', 'tok', 300);
    assert.equal(cache.get('r1', 'repository:a:pull'), 'tok');
    assert.equal(cache.get('r2', 'repository:a:pull'), undefined);
    assert.equal(cache.get('r1', 'repository:b:pull'), undefined);
    now += 289_000;
    assert.equal(cache.get('r1', 'repository:a:pull'), 'tok');
    now += 2_000;
    assert.equal(cache.get('r1', 'repository:a:pull'), undefined, 'dropped 10 s before expiry');
  });
  test('without expires_in: 60 s; bounded', () => {
    let now = 0;
    const cache = new TokenCache(() => now, 2);
    cache.set('r', 's1', 'a');
    now += 49_000;
    assert.equal(cache.get('r', 's1'), 'a');
    now += 2_000;
    assert.equal(cache.get('r', 's1'), undefined);
    cache.set('r', 's1', 'a');
    cache.set('r', 's2', 'b');
    cache.set('r', 's3', 'c');
    assert.equal(cache.get('r', 's1'), undefined, 'oldest evicted');
    assert.equal(cache.get('r', 's3'), 'c');
  });
});
