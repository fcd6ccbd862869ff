import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CandidateView, idcAffinity, loadScore, locationAffinity, score } from './evaluator.js';

const base: CandidateView = {
  isSeed: false,
  freeUploadSlots: 5,
  uploadLimit: 10,
  heldRatio: 0.5,
  idc: 'idc-a',
  location: 'cn|zj|hz',
};
const child = { idc: 'idc-a', location: 'cn|zj|hz' };

describe('score ranks parents', () => {
  const cases: { name: string; better: Partial<CandidateView>; worse: Partial<CandidateView> }[] = [
    { name: 'a seed above an ordinary peer', better: { isSeed: true }, worse: { isSeed: false } },
    { name: 'more idle upload slots', better: { freeUploadSlots: 9 }, worse: { freeUploadSlots: 1 } },
    { name: 'more pieces held', better: { heldRatio: 0.9 }, worse: { heldRatio: 0.1 } },
    { name: "the child's IDC", better: { idc: 'IDC-A' }, worse: { idc: 'idc-b' } },
    { name: 'a longer shared location', better: { location: 'cn|zj|nb' }, worse: { location: 'cn|js|nj' } },
    {
      name: 'load over IDC (0.6 against 0.2)',
      better: { freeUploadSlots: 10, heldRatio: 1, idc: 'other' },
      worse: { freeUploadSlots: 0, heldRatio: 0, idc: 'idc-a' },
    },
    {
      name: 'IDC over seed (0.2 against 0.1)',
      better: { idc: 'idc-a', isSeed: false },
      worse: { idc: 'idc-b', isSeed: true },
    },
  ];
  for (const c of cases) {
    it(`prefers ${c.name}`, () => {
      assert.ok(score({ ...base, ...c.better }, child) > score({ ...base, ...c.worse }, child));
    });
  }

  it('weighs 0.6 load + 0.2 IDC + 0.1 location + 0.1 host type', () => {
    const view = { ...base, isSeed: true, freeUploadSlots: 10, heldRatio: 1 };
    assert.equal(score(view, child), 0.6 + 0.2 + 0.1 + 0.1);
    assert.equal(score({ ...base, freeUploadSlots: 0, heldRatio: 0, idc: '', location: '' }, child), 0);
  });
});

describe('loadScore', () => {
  const cases: [string, Partial<CandidateView>, number][] = [
    ['half free, half held', {}, 0.5],
    ['all free, nothing held', { freeUploadSlots: 10, heldRatio: 0 }, 0.5],
    ['over its limit counts as no free slot', { freeUploadSlots: -3, heldRatio: 0 }, 0],
    ['no upload limit means no slot', { uploadLimit: 0, heldRatio: 1 }, 0.5],
  ];
  for (const [name, view, expected] of cases) {
    it(name, () => assert.equal(loadScore({ ...base, ...view }), expected));
  }
});

describe('affinity', () => {
  const idc: [string, string, number][] = [
    ['a', 'a', 1],
    ['A', 'a', 1],
    ['a', 'b', 0],
    ['', '', 0],
    ['a', '', 0],
  ];
  for (const [a, b, expected] of idc) {
    it(`idc '${a}' vs '${b}' is ${expected}`, () => assert.equal(idcAffinity(a, b), expected));
  }
  const location: [string, string, number][] = [
    ['cn|zj|hz', 'cn|zj|hz', 1],
    ['CN|ZJ', 'cn|zj', 1],
    ['cn|zj|hz', 'cn|zj|nb', 2 / 5],
    ['cn|zj|hz', 'cn', 1 / 5],
    ['cn|zj', 'us|zj', 0],
    ['a|b|c|d|e|f', 'a|b|c|d|e|g', 1],
    ['', 'cn', 0],
  ];
  for (const [a, b, expected] of location) {
    it(`location '${a}' vs '${b}' is ${expected}`, () => assert.equal(locationAffinity(a, b), expected));
  }
});
