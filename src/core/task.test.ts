import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DIRECT_SOURCE_MAX,
  isTaskId,
  MAX_PIECE_LENGTH,
  MIN_PIECE_LENGTH,
  normalizeUrl,
  pieceCount,
  pieceLengthFor,
  pieceRange,
  taskIdFor,
  taskIdForDigest,
  taskIdOf,
} from './task.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('pieceLengthFor: clamp(nextPow2(size / 500), 4 MiB, 64 MiB)', () => {
  const cases: [string, number, number][] = [
    ['empty', 0, 4 * MiB],
    ['1 KiB', KiB, 4 * MiB],
    ['50 MiB', 50 * MiB, 4 * MiB],
    ['300 MiB', 300 * MiB, 4 * MiB],
    // 500 pieces of exactly 4 MiB: the last size that keeps the minimum.
    ['2000 MiB', 2000 * MiB, 4 * MiB],
    ['2000 MiB + 1 byte', 2000 * MiB + 1, 8 * MiB],
    // 2 GiB / 500 = 4.1 MiB -> 8 MiB
    ['2 GiB', 2 * GiB, 8 * MiB],
    // 10 GiB / 500 = 20.5 MiB -> 32 MiB
    ['10 GiB', 10 * GiB, 32 * MiB],
    // 16000 MiB / 500 = 32 MiB exactly -> 32 MiB
    ['16000 MiB', 16_000 * MiB, 32 * MiB],
    // 100 GiB / 500 = 204.8 MiB -> 256 MiB, clamped to 64 MiB
    ['100 GiB', 100 * GiB, 64 * MiB],
    ['10 TiB', 10 * 1024 * GiB, 64 * MiB],
  ];
  for (const [name, size, length] of cases) {
    test(`${name} -> ${length / MiB} MiB`, () => assert.equal(pieceLengthFor(size), length));
  }

  test('is always a power of two within the bounds', () => {
    for (let size = 1; size < 200 * GiB; size = Math.ceil(size * 1.37)) {
      const length = pieceLengthFor(size);
      assert.ok(length >= MIN_PIECE_LENGTH && length <= MAX_PIECE_LENGTH, `${size}`);
      assert.equal(length & (length - 1), 0, `${size} -> ${length}`);
    }
  });

  test('content up to 4 MiB goes straight to the source', () => assert.equal(DIRECT_SOURCE_MAX, 4 * MiB));
});

describe('pieceCount and pieceRange', () => {
  test('count rounds up and is zero for empty content', () => {
    assert.equal(pieceCount(0, 4 * MiB), 0);
    assert.equal(pieceCount(1, 4 * MiB), 1);
    assert.equal(pieceCount(4 * MiB, 4 * MiB), 1);
    assert.equal(pieceCount(4 * MiB + 1, 4 * MiB), 2);
    assert.equal(pieceCount(300 * MiB, 4 * MiB), 75);
  });

  test('ranges tile the content, the last one short', () => {
    const length = 10 * MiB + 5;
    assert.deepEqual(pieceRange(0, length, 4 * MiB), { start: 0, end: 4 * MiB });
    assert.deepEqual(pieceRange(1, length, 4 * MiB), { start: 4 * MiB, end: 8 * MiB });
    assert.deepEqual(pieceRange(2, length, 4 * MiB), { start: 8 * MiB, end: length });
  });
});

describe('taskIdFor', () => {
  const base = 'https://origin.example/files/a.bin';
  const id = taskIdFor({ url: `${base}?b=2&a=1` });

  test('is 64 lowercase hex digits', () => assert.ok(isTaskId(id)));

  test('does not depend on the order of query parameters', () => {
    assert.equal(taskIdFor({ url: `${base}?a=1&b=2` }), id);
  });

  test('ignores signature-like query parameters and the fragment', () => {
    const signed = `${base}?a=1&X-Amz-Signature=abc&b=2&X-Amz-Date=20260101T000000Z&Expires=9#part`;
    assert.equal(taskIdFor({ url: signed }), id);
  });

  test('ignores extra parameters named with filterQuery', () => {
    assert.equal(taskIdFor({ url: `${base}?a=1&b=2&token=xyz`, filterQuery: ['token'] }), id);
    assert.notEqual(taskIdFor({ url: `${base}?a=1&b=2&token=xyz` }), id);
  });

  test('keeps parameters that change the content', () => {
    assert.notEqual(taskIdFor({ url: `${base}?a=1&b=3` }), id);
    assert.notEqual(taskIdFor({ url: base }), id);
  });

  test('differs by tag, application and forced piece length', () => {
    const url = `${base}?a=1&b=2`;
    const ids = new Set([
      id,
      taskIdFor({ url, tag: 'v1' }),
      taskIdFor({ url, tag: 'v2' }),
      taskIdFor({ url, application: 'app' }),
      taskIdFor({ url, tag: 'app' }),
      taskIdFor({ url, pieceLength: 8 * MiB }),
    ]);
    assert.equal(ids.size, 6);
    assert.equal(taskIdFor({ url, tag: 'v1' }), taskIdFor({ url: `${base}?b=2&a=1`, tag: 'v1' }));
  });

  test('normalizeUrl sorts what it keeps and drops the rest', () => {
    assert.equal(normalizeUrl(`${base}?z=1&sig=s&a=2#x`), `${base}?a=2&z=1`);
  });
});

test('isTaskId accepts only 64 lowercase hex digits', () => {
  assert.ok(isTaskId('a'.repeat(64)));
  assert.ok(!isTaskId('A'.repeat(64)));
  assert.ok(!isTaskId('a'.repeat(63)));
  assert.ok(!isTaskId(`${'a'.repeat(63)}g`));
});

describe('content-addressed task IDs', () => {
  const hex = 'a'.repeat(64);
  test('the task ID of a digest is its hex', () => {
    assert.equal(taskIdForDigest(`sha256:${hex}`), hex);
    assert.ok(isTaskId(taskIdForDigest(`sha256:${hex}`)));
  });
  test('URL, tag and application do not enter it', () => {
    const a = taskIdOf({ url: 'https://r1.example/v2/a/blobs/x', digest: `sha256:${hex}` });
    const b = taskIdOf({
      url: 'https://r2.example/v2/b/blobs/y?ns=docker.io',
      tag: 't',
      digest: `sha256:${hex}`,
    });
    assert.equal(a, b);
    assert.notEqual(taskIdOf({ url: 'https://r1.example/v2/a/blobs/x' }), a);
  });
  test('anything but sha256:<64 lowercase hex> is refused', () => {
    for (const bad of [hex, `sha512:${hex}`, `sha256:${hex.toUpperCase()}`, `sha256:${hex}0`, 'sha256:']) {
      assert.throws(() => taskIdForDigest(bad), /BAD_DIGEST_FORMAT|not of the form/);
    }
  });
});
