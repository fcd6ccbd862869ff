import { setMaxListeners } from 'node:events';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import { AsyncQueue } from '../../core/async-queue.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  type AnnouncePeerRequest,
  AnnouncePeerRequestSchema,
  type AnnouncePeerResponse,
  type SchedulerService,
} from '../../protocol/gen/scheduler_pb.js';

export type PeerReport = MessageInitShape<typeof AnnouncePeerRequestSchema>['message'];

/** How long the scheduler gets to read our last reports before the stream is cut. */
const LINGER_MS = 30_000;

/**
 * One download's AnnouncePeer stream. Reports are queued (bounded) and sent
 * in order; `end()` lets the scheduler read the last ones before the stream
 * closes, `abort()` cuts it at once. Without a scheduler every call is a no-op.
 */
export class SchedulerLink {
  private readonly requests = new AsyncQueue<AnnouncePeerRequest>(100_000);
  private readonly abortController = new AbortController();

  constructor(
    private readonly scheduler: Client<typeof SchedulerService> | undefined,
    private readonly log: Logger,
  ) {
    setMaxListeners(0, this.abortController.signal);
  }

  get connected(): boolean {
    return this.scheduler !== undefined;
  }

  /**
   * Opens the stream with `register` first; `onResponse` sees every answer in
   * order, `onError` a stream that failed (not one that ended).
   */
  open(
    register: PeerReport,
    onResponse: (res: AnnouncePeerResponse) => Promise<void>,
    onError: (err: unknown) => void,
  ): void {
    if (!this.scheduler) return;
    this.send(register);
    const responses = this.scheduler.announcePeer(this.requests, { signal: this.abortController.signal });
    (async () => {
      for await (const res of responses) await onResponse(res);
    })().catch(onError);
  }

  send(message: PeerReport): void {
    if (!this.scheduler) return;
    try {
      this.requests.push(create(AnnouncePeerRequestSchema, { message }));
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'scheduler report dropped');
    }
  }

  /** No more reports: the scheduler ends the stream once it has read them. */
  end(): void {
    this.requests.close();
    setTimeout(() => this.abortController.abort(), LINGER_MS).unref();
  }

  abort(): void {
    this.requests.close();
    this.abortController.abort();
  }
}
