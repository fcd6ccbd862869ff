import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GcTask, planGc } from './gc-plan.js';

const DAY = 86_400_000;
const policy = { taskTtl: 30 * DAY, highWatermark: 0.8, lowWatermark: 0.6 };
const now = 100 * DAY;
const task = (id: string, ageDays: number, bytes: number, inUse = false): GcTask => ({
  id,
  lastAccess: now - ageDays * DAY,
  bytes,
  inUse,
});

describe('planGc', () => {
  it('removes expired tasks even below the watermark', () => {
    const plan = planGc([task('old', 31, 10), task('new', 1, 10)], { used: 20, capacity: 100 }, policy, now);
    assert.deepEqual(plan, [{ id: 'old', reason: 'expired' }]);
  });

  it('above the high watermark removes least recently used tasks down to the low watermark', () => {
    const tasks = [task('a', 5, 20), task('b', 4, 20), task('c', 3, 20), task('d', 2, 20), task('e', 1, 10)];
    const plan = planGc(tasks, { used: 90, capacity: 100 }, policy, now);
    assert.deepEqual(
      plan.map((d) => d.id),
      ['a', 'b'],
    );
  });

  it('does nothing between the watermarks', () => {
    assert.deepEqual(planGc([task('a', 5, 70)], { used: 70, capacity: 100 }, policy, now), []);
  });

  it('never chooses a task in use, expired or not', () => {
    const tasks = [task('busy-old', 40, 50, true), task('busy', 9, 40, true), task('idle', 1, 5)];
    const plan = planGc(tasks, { used: 95, capacity: 100 }, policy, now);
    assert.deepEqual(
      plan.map((d) => d.id),
      ['idle'],
    );
  });
});
