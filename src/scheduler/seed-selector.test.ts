import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickSeedHost } from './seed-selector.js';

const tasks = Array.from({ length: 200 }, (_, i) => `task-${i}`);

describe('pickSeedHost', () => {
  it('picks nothing without seeds and the same seed for the same task', () => {
    assert.equal(pickSeedHost('t', []), undefined);
    assert.equal(pickSeedHost('t', ['a', 'b', 'c']), pickSeedHost('t', ['c', 'b', 'a']));
  });

  it('spreads tasks over seeds and moves only the tasks of a seed that leaves', () => {
    const before = tasks.map((t) => pickSeedHost(t, ['a', 'b', 'c']));
    for (const seed of ['a', 'b', 'c']) assert.ok(before.filter((s) => s === seed).length > 30);
    const after = tasks.map((t) => pickSeedHost(t, ['a', 'c']));
    tasks.forEach((_, i) => {
      if (before[i] !== 'b') assert.equal(after[i], before[i]);
    });
  });
});
