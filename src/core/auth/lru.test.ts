import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LruMap } from './lru.js';

test('LruMap forgets the least recently used key beyond its limit', () => {
  const map = new LruMap<string, number>(2);
  map.set('a', 1);
  map.set('b', 2);
  assert.equal(map.get('a'), 1); // 'a' is now the most recent
  map.set('c', 3);
  assert.equal(map.size, 2);
  assert.equal(map.peek('b'), undefined);
  assert.equal(map.peek('a'), 1);
  assert.equal(map.peek('c'), 3);
});

test('LruMap.peek does not refresh a key', () => {
  const map = new LruMap<string, number>(2);
  map.set('a', 1);
  map.set('b', 2);
  map.peek('a');
  map.set('c', 3);
  assert.equal(map.peek('a'), undefined);
});

test('LruMap.deleteWhere removes only the matching entries', () => {
  const map = new LruMap<string, { user: string }>(10);
  map.set('s1', { user: 'u1' });
  map.set('s2', { user: 'u2' });
  map.set('s3', { user: 'u1' });
  assert.equal(
    map.deleteWhere((v) => v.user === 'u1'),
    2,
  );
  assert.equal(map.size, 1);
  assert.deepEqual(map.peek('s2'), { user: 'u2' });
});

test('LruMap refuses a limit below one', () => {
  assert.throws(() => new LruMap(0), /at least 1/);
});
