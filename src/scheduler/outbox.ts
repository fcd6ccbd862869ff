import { Code, ConnectError } from '@connectrpc/connect';

/**
 * The messages waiting to be written on one server stream. Bounded: a client
 * that stops reading is cut off with `resource_exhausted` instead of making
 * the scheduler buffer without end. `merge` lets a sender fold a message into
 * the last one still queued (piece digests), so a slow reader costs one
 * growing message, not one per piece.
 */
export class Outbox<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  private error: ConnectError | undefined;

  /** `onOverflow` is told when a reader falls `limit` messages behind and is cut off. */
  constructor(
    private readonly limit: number,
    private readonly onOverflow?: () => void,
  ) {}

  get closed(): boolean {
    return this.done;
  }

  /** Queues `message`; false if the stream is closed (or was just closed for overflow). */
  push(message: T): boolean {
    if (this.done) return false;
    if (this.queue.length >= this.limit) {
      this.onOverflow?.();
      this.fail(new ConnectError('stream not read: too many messages queued', Code.ResourceExhausted));
      return false;
    }
    this.queue.push(message);
    this.signal();
    return true;
  }

  /** Folds into the last queued message when `merge` accepts it, else queues `make()`. */
  pushOrMerge(merge: (last: T) => boolean, make: () => T): boolean {
    if (this.done) return false;
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && merge(last)) return true;
    return this.push(make());
  }

  /** Ends the stream after the queued messages are written. */
  close(): void {
    this.done = true;
    this.signal();
  }

  /** Ends the stream now with `error`; queued messages are dropped. */
  fail(error: ConnectError): void {
    if (this.done && this.error) return;
    this.error = error;
    this.queue.length = 0;
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.error) throw this.error;
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
