import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWarrenError } from './errors.js';
import { formatBytes, parseDuration, parseSize } from './units.js';

describe('parseSize', () => {
  const cases: [string | number, number][] = [
    ['4096', 4096],
    ['0', 0],
    ['64MiB', 64 * 1024 ** 2],
    ['64mib', 64 * 1024 ** 2],
    ['1.5GB', 1.5e9],
    ['4 KiB', 4096],
    ['10kb', 10_000],
    ['2TiB', 2 * 1024 ** 4],
    ['512b', 512],
    [1234.9, 1234],
  ];
  for (const [input, bytes] of cases) {
    test(`${JSON.stringify(input)} is ${bytes} bytes`, () => assert.equal(parseSize(input), bytes));
  }

  for (const input of ['', 'MiB', '-1', '12 parsecs', '1e6', '1,5GB', -5, Number.NaN]) {
    test(`${JSON.stringify(input)} is rejected with BAD_UNIT naming the key`, () => {
      assert.throws(
        () => parseSize(input, 'upload.rateLimit'),
        (err: unknown) => isWarrenError(err, 'BAD_UNIT') && err.message.startsWith('upload.rateLimit:'),
      );
    });
  }
});

describe('parseDuration', () => {
  const cases: [string | number, number][] = [
    ['250ms', 250],
    ['30s', 30_000],
    ['15m', 900_000],
    ['720h', 720 * 3_600_000],
    ['2d', 2 * 86_400_000],
    ['1.5s', 1500],
    [' 10s ', 10_000],
    [42, 42],
  ];
  for (const [input, ms] of cases) {
    test(`${JSON.stringify(input)} is ${ms} ms`, () => assert.equal(parseDuration(input), ms));
  }

  for (const input of ['30', '5 minutes', '1w', 's', '-3s', -1]) {
    test(`${JSON.stringify(input)} is rejected with BAD_UNIT`, () => {
      assert.throws(
        () => parseDuration(input, 'gc.taskTtl'),
        (err: unknown) => isWarrenError(err, 'BAD_UNIT') && err.message.includes('gc.taskTtl'),
      );
    });
  }
});

describe('formatBytes', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [50 * 1024 ** 2, '50.0 MiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
    [3 * 1024 ** 4, '3.0 TiB'],
    [2048 * 1024 ** 4, '2048.0 TiB'],
  ];
  for (const [bytes, text] of cases) {
    test(`${bytes} is '${text}'`, () => assert.equal(formatBytes(bytes), text));
  }
});
