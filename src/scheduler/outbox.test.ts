import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { Outbox } from './outbox.js';

async function drain<T>(outbox: Outbox<T>): Promise<{ items: T[]; error?: ConnectError }> {
  const items: T[] = [];
  try {
    for await (const item of outbox) items.push(item);
    return { items };
  } catch (err) {
    return { items, error: err as ConnectError };
  }
}

describe('Outbox', () => {
  it('delivers queued messages, then ends on close', async () => {
    const outbox = new Outbox<number>(10);
    outbox.push(1);
    setTimeout(() => {
      outbox.push(2);
      outbox.close();
    }, 5);
    assert.deepEqual(await drain(outbox), { items: [1, 2] });
  });

  it('merges into the last queued message when asked', async () => {
    const outbox = new Outbox<number[]>(10);
    outbox.push([1]);
    outbox.pushOrMerge(
      (last) => last.push(2) > 0,
      () => [0],
    );
    outbox.close();
    assert.deepEqual((await drain(outbox)).items, [[1, 2]]);
  });

  it('cuts off a reader that falls behind instead of buffering without end', async () => {
    const outbox = new Outbox<number>(2);
    assert.equal(outbox.push(1), true);
    assert.equal(outbox.push(2), true);
    assert.equal(outbox.push(3), false);
    assert.equal(outbox.push(4), false);
    const { items, error } = await drain(outbox);
    assert.deepEqual(items, []);
    assert.equal(error?.code, Code.ResourceExhausted);
  });

  it('fails at once with the given error', async () => {
    const outbox = new Outbox<number>(5);
    outbox.push(1);
    outbox.fail(new ConnectError('bye', Code.Unavailable));
    assert.equal((await drain(outbox)).error?.code, Code.Unavailable);
  });
});
