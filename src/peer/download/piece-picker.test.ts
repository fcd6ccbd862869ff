import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PickerParent, type PickerState, pickPiece } from './piece-picker.js';

function parent(id: string, pieces: number[], inFlight = 0, coolUntil = 0): PickerParent {
  const set = new Set(pieces);
  return { id, has: (n) => set.has(n), inFlight, coolUntil };
}

function state(over: Partial<PickerState> & { parents: PickerParent[] }): PickerState {
  return {
    pieceCount: 10,
    held: () => false,
    inFlight: () => false,
    digestKnown: () => true,
    perParentLimit: 2,
    now: 1000,
    from: 0,
    ...over,
  };
}

describe('pickPiece', () => {
  it('prefers the rarest piece in the window, ties to the lowest number', () => {
    const a = parent('a', [0, 1, 2]);
    const b = parent('b', [0, 1]);
    assert.deepEqual(pickPiece(state({ parents: [a, b] }))?.piece, 2);
    assert.deepEqual(pickPiece(state({ parents: [a, parent('b', [0, 1, 2])] }))?.piece, 0);
  });

  it('skips held, in-flight and not-yet-verifiable pieces', () => {
    const a = parent('a', [0, 1, 2, 3]);
    const pick = pickPiece(
      state({
        parents: [a],
        held: (n) => n === 0,
        inFlight: (n) => n === 1,
        digestKnown: (n) => n !== 2,
      }),
    );
    assert.equal(pick?.piece, 3);
  });

  it('spreads requests to the least busy parent that holds the piece', () => {
    const busy = parent('busy', [0], 1);
    const idle = parent('idle', [0], 0);
    assert.equal(pickPiece(state({ parents: [busy, idle] }))?.parent.id, 'idle');
  });

  it('leaves out parents at their request limit or cooling down', () => {
    const full = parent('full', [0], 2);
    const cooling = parent('cool', [0], 0, 5000);
    assert.equal(pickPiece(state({ parents: [full, cooling] })), undefined);
  });

  it('returns nothing when no parent holds a wanted piece', () => {
    assert.equal(pickPiece(state({ parents: [parent('a', [])] })), undefined);
  });
});
