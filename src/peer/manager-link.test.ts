import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gcPolicyOf } from './manager-link.js';

describe('gcPolicyOf', () => {
  it('takes the GC keys a cluster configuration sets, and only valid ones', () => {
    assert.deepEqual(gcPolicyOf({}), {});
    assert.deepEqual(gcPolicyOf({ peer: { gc: { ttl: '48h', highWatermark: 0.9, lowWatermark: 0.5 } } }), {
      taskTtl: 48 * 3_600_000,
      highWatermark: 0.9,
      lowWatermark: 0.5,
    });
    assert.deepEqual(gcPolicyOf({ peer: { gc: { highWatermark: 2, lowWatermark: 'x' } } }), {});
    assert.throws(() => gcPolicyOf({ peer: { gc: { ttl: 'forever' } } }), /peer\.gc\.ttl/);
  });
});
