import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickByRendezvous } from './consistent-hash.js';

const keys = Array.from({ length: 3000 }, (_, i) => `task-${i}`);
const pickAll = (members: string[]) => keys.map((k) => pickByRendezvous(k, members));

describe('pickByRendezvous', () => {
  it('is stable: the same key gives the same member whatever the order of the members', () => {
    assert.equal(pickByRendezvous('k', []), undefined);
    for (const key of keys.slice(0, 100)) {
      const a = pickByRendezvous(key, ['s1', 's2', 's3', 's4']);
      assert.equal(pickByRendezvous(key, ['s4', 's3', 's2', 's1']), a);
      assert.equal(pickByRendezvous(key, ['s2', 's4', 's1', 's3']), a);
    }
  });

  it('spreads keys evenly over the members', () => {
    const members = ['s1', 's2', 's3', 's4'];
    const picks = pickAll(members);
    for (const m of members) {
      const share = picks.filter((p) => p === m).length / keys.length;
      // 3,000 keys over 4 members: the binomial spread is about ±0.8 %; allow ±4 %.
      assert.ok(Math.abs(share - 0.25) < 0.04, `${m} got ${(share * 100).toFixed(1)} % of the keys`);
    }
  });

  it('moves only about 1/n of the keys when a member joins, and only its keys when one leaves', () => {
    const three = pickAll(['s1', 's2', 's3']);
    const four = pickAll(['s1', 's2', 's3', 's4']);
    let moved = 0;
    keys.forEach((_, i) => {
      if (four[i] !== three[i]) {
        moved++;
        // A key that moves goes to the newcomer, never between the old members.
        assert.equal(four[i], 's4');
      }
    });
    const share = moved / keys.length;
    assert.ok(Math.abs(share - 0.25) < 0.04, `${(share * 100).toFixed(1)} % of keys moved on a join`);
    const two = pickAll(['s1', 's3']);
    keys.forEach((_, i) => {
      if (three[i] !== 's2') assert.equal(two[i], three[i], 'a key not on the leaver moved');
    });
  });
});
