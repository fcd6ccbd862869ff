import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBadParent } from './bad-parent.js';

const repeat = (value: number, n: number) => Array.from({ length: n }, () => value);
/** 19 samples alternating 90 and 110: mean 100, population σ ≈ 10. */
const steady = Array.from({ length: 19 }, (_, i) => (i % 2 === 0 ? 90 : 110));
const mean = steady.reduce((a, b) => a + b, 0) / steady.length;
const sigma = Math.sqrt(steady.reduce((a, b) => a + (b - mean) ** 2, 0) / steady.length);

describe('isBadParent', () => {
  const cases: [string, { gone: boolean; costs: number[] }, boolean][] = [
    ['a parent that failed or left is bad', { gone: true, costs: [] }, true],
    ['no samples: not bad', { gone: false, costs: [] }, false],
    ['one sample, however slow: not bad', { gone: false, costs: [100_000] }, false],
    ['few samples, last under 40× the mean: not bad', { gone: false, costs: [10, 10, 10, 400] }, false],
    ['few samples, last over 40× the mean: bad', { gone: false, costs: [10, 10, 10, 401] }, true],
    ['19 samples still use the 40× rule', { gone: false, costs: [...repeat(10, 18), 300] }, false],
    ['20 samples use 3σ: steady costs are fine', { gone: false, costs: [...steady, 120] }, false],
    [
      '20 samples: last just above mean + 3σ is bad',
      { gone: false, costs: [...steady, mean + 3 * sigma + 1] },
      true,
    ],
    [
      '20 samples: last just below mean + 3σ is fine',
      { gone: false, costs: [...steady, mean + 3 * sigma - 1] },
      false,
    ],
    [
      '20 identical samples then one slower: bad (σ = 0)',
      { gone: false, costs: [...repeat(50, 19), 51] },
      true,
    ],
  ];
  for (const [name, parent, expected] of cases) {
    it(name, () => assert.equal(isBadParent(parent), expected));
  }
});
