import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import { initCa, issueCertificate, type Role, type TlsMaterial } from '../core/tls.js';
import type { HostSchema } from '../protocol/gen/scheduler_pb.js';

/**
 * Helpers for the scheduler's integration tests and benchmark (not used by
 * the scheduler itself): a CA in a temp folder, and a reader that buffers a
 * server stream so that tests can wait for "the next message" with a deadline.
 */

/** A fresh CA in a temp folder; `issue` makes certificates signed by it. */
export async function makePki(prefix = 'warren-sched-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const caDir = join(dir, 'ca');
  await initCa(caDir);
  return {
    dir,
    issue: (role: Role, name: string): Promise<TlsMaterial> => issueCertificate(caDir, { role, name }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A Host message for `id` (upload limit 10 unless given). */
export function hostOf(
  id: string,
  extra: { isSeed?: boolean; uploadLimit?: number; idc?: string; location?: string } = {},
): MessageInitShape<typeof HostSchema> {
  return { id, hostname: id, ip: '127.0.0.1', uploadPort: 4100, uploadLimit: 10, ...extra };
}

/** Buffers everything a stream yields; `next` waits for one message with a deadline. */
export class StreamReader<T> {
  private readonly buffer: T[] = [];
  private waiter: (() => void) | undefined;
  private done = false;
  /** The error the stream ended with, if any. */
  error: ConnectError | undefined;

  constructor(stream: AsyncIterable<T>) {
    void this.pump(stream);
  }

  get buffered(): number {
    return this.buffer.length;
  }

  async next(timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const item = this.buffer.shift();
      if (item !== undefined) return item;
      if (this.done) throw this.error ?? new Error('stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for the stream to end; resolves with its error (undefined if it ended cleanly). */
  async ended(timeoutMs = 3000): Promise<ConnectError | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.done) {
      if (Date.now() > deadline) throw new Error(`stream still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.error;
  }

  private async pump(stream: AsyncIterable<T>): Promise<void> {
    try {
      for await (const item of stream) {
        this.buffer.push(item);
        this.wake();
      }
    } catch (err) {
      this.error = ConnectError.from(err);
    } finally {
      this.done = true;
      this.wake();
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
