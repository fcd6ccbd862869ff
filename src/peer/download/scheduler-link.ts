import { setMaxListeners } from 'node:events';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import { AsyncQueue } from '../../core/async-queue.js';
import { pickByRendezvous } from '../../core/consistent-hash.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  type AnnouncePeerRequest,
  AnnouncePeerRequestSchema,
  type AnnouncePeerResponse,
  type SchedulerService,
} from '../../protocol/gen/scheduler_pb.js';
import type { SchedulerClient } from '../../protocol/scheduler-client.js';

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

/** A scheduler of the cluster: its certificate name (the hash key) and host:port. */
export interface SchedulerEndpoint {
  id: string;
  address: string;
}

/** Most schedulers a peer keeps streams to (a cluster has a handful). */
const MAX_SCHEDULERS = 64;

interface Member {
  endpoint: SchedulerEndpoint;
  client: SchedulerClient;
  /** Ends this scheduler's AnnounceHost loop. */
  stop: AbortController;
}

/**
 * The schedulers this peer uses: one per task, chosen by consistent hashing
 * of the task ID over their ids (so every peer sends a task to the same
 * scheduler, and only ~1/n of tasks move when one joins or leaves), and an
 * AnnounceHost stream to each (so any of them can trigger this seed or send
 * it commands). The list comes from the configuration or the manager.
 */
export class SchedulerPool {
  private readonly members = new Map<string, Member>();

  constructor(
    private readonly o: {
      connect(address: string): SchedulerClient;
      /** Keeps the AnnounceHost stream to one scheduler until `signal` aborts. */
      hostLoop(client: SchedulerClient, signal: AbortSignal): Promise<void>;
      log: Logger;
    },
  ) {}

  get size(): number {
    return this.members.size;
  }

  /** Ids and addresses in use, sorted by id. */
  endpoints(): SchedulerEndpoint[] {
    return [...this.members.values()].map((m) => m.endpoint).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** The scheduler for a task, or undefined when there is none. */
  forTask(taskId: string): SchedulerClient | undefined {
    const id = pickByRendezvous(taskId, this.members.keys());
    return id === undefined ? undefined : this.members.get(id)?.client;
  }

  /** Makes `endpoints` the member list: streams open to newcomers and close to those gone. */
  set(endpoints: readonly SchedulerEndpoint[]): void {
    const wanted = new Map(endpoints.slice(0, MAX_SCHEDULERS).map((e) => [e.id, e]));
    for (const [id, member] of this.members) {
      const next = wanted.get(id);
      if (next && next.address === member.endpoint.address) continue;
      this.drop(id, member);
    }
    for (const [id, endpoint] of wanted) {
      if (this.members.has(id)) continue;
      const member: Member = {
        endpoint,
        client: this.o.connect(endpoint.address),
        stop: new AbortController(),
      };
      setMaxListeners(0, member.stop.signal);
      this.members.set(id, member);
      this.o.log.info({ scheduler: id, address: endpoint.address }, 'using scheduler');
      void this.o.hostLoop(member.client, member.stop.signal);
    }
  }

  close(): void {
    for (const [id, member] of this.members) this.drop(id, member, 0);
  }

  /**
   * Stops the host stream at once; the connection closes after a linger, so
   * that downloads still reporting to this scheduler can finish their talk.
   */
  private drop(id: string, member: Member, lingerMs = LINGER_MS): void {
    this.members.delete(id);
    member.stop.abort();
    this.o.log.info({ scheduler: id, address: member.endpoint.address }, 'no longer using scheduler');
    if (lingerMs === 0) member.client.close();
    else setTimeout(() => member.client.close(), lingerMs).unref();
  }
}
