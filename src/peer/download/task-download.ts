import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Client } from '@connectrpc/connect';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  type AnnouncePeerResponse,
  FailureReason,
  type Host,
  type Manifest,
  type SchedulerService,
} from '../../protocol/gen/scheduler_pb.js';
import type { HttpSource } from '../source/http-source.js';
import type { StoredTask } from '../storage/stored-task.js';
import type { TaskStore } from '../storage/task-store.js';
import { checkContentDigest } from './content-check.js';
import type { DownloadMetrics } from './metrics.js';
import { type ParentPools, ParentState } from './parents.js';
import { pickPiece } from './piece-picker.js';
import { type PeerReport, SchedulerLink } from './scheduler-link.js';
import { fetchFromSource } from './source-fetch.js';

export interface DownloadComponents {
  store: TaskStore;
  /** Absent when the peer runs without a scheduler: every download goes to the origin. */
  scheduler?: Client<typeof SchedulerService>;
  source: HttpSource;
  pools: ParentPools;
  host: Host;
  log: Logger;
  metrics: DownloadMetrics;
}

export interface DownloadInit {
  /** Bytes of piece buffers in flight at once; sets how many pieces are fetched concurrently. */
  memoryBudget: number;
  perParentLimit: number;
  /** With nothing arriving for this long, ask the scheduler for other parents. */
  stallTimeout: number;
  /** Reschedule requests without progress before going to the origin ourselves. */
  maxReschedules: number;
}

export interface DownloadRequest {
  taskId: string;
  url: string;
  headers: Record<string, string>;
  tag: string;
  application: string;
  filterQuery: string[];
  /**
   * Content-addressed task: the SHA-256 (hex) the whole content must have
   * (the task ID is then this digest). Checked before the task succeeds.
   */
  digest?: string;
}

export interface DownloadStats {
  piecesFromParents: number;
  piecesFromSource: number;
  piecesResumed: number;
  bytesFromParents: number;
  bytesFromSource: number;
  badPieces: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * One download of one task by this peer: the scheduler stream, the parents,
 * the piece loop and, when told to, the origin. Every piece from a parent is
 * checked against the manifest the scheduler relayed before it is written;
 * a parent that sends a bad piece is reported and dropped.
 */
export class TaskDownload {
  readonly stats: DownloadStats = {
    piecesFromParents: 0,
    piecesFromSource: 0,
    piecesResumed: 0,
    bytesFromParents: 0,
    bytesFromSource: 0,
    badPieces: 0,
  };
  state: 'running' | 'succeeded' | 'failed' = 'running';
  error: Error | undefined;
  readonly done: Promise<void>;
  readonly peerId: string;
  private task!: StoredTask;
  private readonly parents = new Map<string, ParentState>();
  private readonly blocked = new Set<string>();
  private readonly inFlight = new Set<number>();
  private readonly buffers: Buffer[] = [];
  private readonly abort = new AbortController();
  /** The scheduler stream outlives `abort` so that the last reports are delivered. */
  private readonly link: SchedulerLink;
  private readonly log: Logger;
  private sourcing: Promise<void> | undefined;
  private contentSha256: Buffer | undefined;
  private cursor = 0;
  private lastProgress = Date.now();
  private reschedules = 0;
  private settle!: (err?: Error) => void;
  private finishing = false;
  private readonly startedAt = performance.now();

  constructor(
    private readonly c: DownloadComponents,
    private readonly init: DownloadInit,
    readonly request: DownloadRequest,
  ) {
    this.peerId = `${c.host.id}/${request.taskId}`;
    // One listener per request in flight (bounded by the memory budget), not a leak.
    setMaxListeners(0, this.abort.signal);
    this.log = c.log.child({ taskId: request.taskId });
    this.link = new SchedulerLink(c.scheduler, this.log);
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
    this.done.catch(() => undefined); // observed through `state` and `error` too
  }

  /** Runs the download to its end; `done` settles with the outcome. */
  async run(): Promise<void> {
    const r = this.request;
    this.task = await this.c.store.getOrCreate({
      taskId: r.taskId,
      url: r.url,
      tag: r.tag,
      application: r.application,
      ...(r.digest ? { digest: r.digest } : {}),
    });
    const release = this.task.acquire();
    const stall = setInterval(() => this.checkStall(), 500);
    stall.unref();
    try {
      await this.verifyResumed();
      if (this.task.complete) this.finish();
      else if (!this.c.scheduler) this.goToSource('no scheduler configured');
      else this.openScheduler();
      await this.done;
    } catch (err) {
      this.fail(err as Error);
    } finally {
      clearInterval(stall);
      release();
      this.abort.abort();
      this.link.end();
      for (const parent of this.parents.values()) parent.stop();
    }
  }

  /** Stops the download (peer shutting down or task removed). */
  cancel(reason: string): void {
    this.fail(new WarrenError('DOWNLOAD_CANCELLED', reason, 499));
    this.link.abort();
  }

  private openScheduler(): void {
    const t = this.task;
    const register: PeerReport = {
      case: 'register',
      value: {
        taskId: this.request.taskId,
        url: this.request.url,
        headers: this.request.headers,
        tag: this.request.tag,
        application: this.request.application,
        filterQuery: this.request.filterQuery,
        host: this.c.host,
        peerId: this.peerId,
        heldPieces: t.pieces.toArray(),
        contentLength: BigInt(t.meta.contentLength ?? 0),
        pieceLength: t.meta.pieceLength ?? 0,
        digest: this.request.digest ? `sha256:${this.request.digest}` : '',
      },
    };
    this.link.open(
      register,
      async (res) => {
        if (this.state === 'running') await this.onResponse(res);
      },
      (err) => {
        if (this.state !== 'running') return;
        // The scheduler is gone: the origin is still there (Dragonfly does the same).
        this.log.warn({ err: errorMessage(err) }, 'scheduler stream failed; going back to source');
        this.goToSource('scheduler unavailable');
      },
    );
  }

  private async onResponse(res: AnnouncePeerResponse): Promise<void> {
    const m = res.message;
    switch (m.case) {
      case 'manifest':
        return this.onManifest(m.value);
      case 'pieceDigests':
        await this.applyDigests(m.value.digests, m.value.contentSha256);
        return this.pump();
      case 'parents':
        this.log.debug(
          { ms: Math.round(performance.now() - this.startedAt), parents: m.value.parents.length },
          'parents received',
        );
        for (const p of m.value.parents) this.addParent(p.peerId, p.host);
        return this.pump();
      case 'backToSource':
        return this.goToSource(m.value.reason);
    }
  }

  private async onManifest(m: Manifest): Promise<void> {
    this.log.debug({ ms: Math.round(performance.now() - this.startedAt) }, 'manifest received');
    await this.task.setShape(Number(m.contentLength), m.pieceLength);
    await this.applyDigests(m.digests, m.contentSha256);
    if (this.task.complete) return this.finish();
    this.pump();
  }

  private async applyDigests(digests: Manifest['digests'], contentSha256: Uint8Array): Promise<void> {
    this.lastProgress = Date.now();
    const dropped = this.task.setDigests(digests.map((d) => [d.number, hex(d.sha256)] as [number, string]));
    if (dropped.length > 0)
      this.log.warn({ pieces: dropped }, 'local pieces disagree with the manifest; refetching');
    if (contentSha256.length > 0) this.task.setContentSha256(hex(contentSha256));
    await this.verifyResumed();
  }

  /** Re-checks pieces an earlier run left on disk against the digests now known. */
  private async verifyResumed(): Promise<void> {
    const { accepted, dropped } = await this.task.verifyResumed();
    this.stats.piecesResumed += accepted;
    if (dropped.length > 0)
      this.log.warn({ pieces: dropped }, 'resumed pieces do not match their digests; refetching');
  }

  private addParent(peerId: string, host: Host | undefined): void {
    if (!host || this.blocked.has(peerId) || this.parents.has(peerId) || peerId === this.peerId) return;
    const client = this.c.pools.get({ hostId: host.id, ip: host.ip, port: host.uploadPort });
    const parent = new ParentState(peerId, client);
    this.parents.set(peerId, parent);
    parent
      .follow(this.request.taskId, () => this.onAvailability(), this.log)
      .catch((err) => {
        if (this.state !== 'running') return;
        this.log.info({ parent: peerId, err: errorMessage(err) }, 'lost parent');
        this.dropParent(peerId, FailureReason.UNREACHABLE, 0);
      });
  }

  private onAvailability(): void {
    this.lastProgress = Date.now();
    this.pump();
  }

  private dropParent(peerId: string, reason: FailureReason, piece: number): void {
    const parent = this.parents.get(peerId);
    if (!parent) return;
    parent.stop();
    this.parents.delete(peerId);
    this.send({ case: 'pieceFailed', value: { number: piece, parentId: peerId, reason } });
  }

  /** Starts piece fetches while there is room in the memory budget and something to fetch. */
  private pump(): void {
    if (this.state !== 'running' || !this.task.hasShape) return;
    const pieceLength = this.task.meta.pieceLength!;
    // In-flight pieces (fetching or waiting to be written) each hold one buffer.
    const max = Math.max(1, Math.min(16, Math.floor(this.init.memoryBudget / pieceLength)));
    while (this.cursor < this.task.pieces.size && this.task.pieces.has(this.cursor)) this.cursor++;
    while (this.inFlight.size < max) {
      const pick = pickPiece({
        pieceCount: this.task.pieces.size,
        held: (n) => this.task.pieces.has(n) || this.task.resumed.has(n),
        inFlight: (n) => this.inFlight.has(n),
        digestKnown: (n) => this.task.digestOf(n) !== null,
        parents: [...this.parents.values()],
        perParentLimit: this.init.perParentLimit,
        now: Date.now(),
        from: this.cursor,
      });
      if (!pick) return;
      void this.fetchPiece(pick.piece, pick.parent as ParentState);
    }
  }

  /**
   * Fetches piece `n` from `parent`, verifies it, writes it. The parent's
   * request slot is released as soon as the bytes are verified: disk writes
   * (slow on some disks) then overlap with the next requests, and only the
   * piece buffer, bounded by the memory budget, waits for the write.
   */
  private async fetchPiece(n: number, parent: ParentState): Promise<void> {
    this.inFlight.add(n);
    parent.inFlight++;
    let parentSlot = true;
    const releaseParent = () => {
      if (parentSlot) parent.inFlight--;
      parentSlot = false;
    };
    const { start, end } = this.task.range(n);
    const buffer = this.takeBuffer(end - start);
    const started = performance.now();
    try {
      const hash = createHash('sha256');
      await parent.client.fetchRange(this.request.taskId, start, buffer, hash, this.abort.signal);
      const digest = hash.digest('hex');
      const costMs = Math.round(performance.now() - started);
      releaseParent();
      if (digest !== this.task.digestOf(n)) {
        this.stats.badPieces++;
        this.c.metrics.badPieces.inc();
        this.log.warn(
          { piece: n, parent: parent.id },
          'parent sent a piece that does not match the manifest',
        );
        this.blocked.add(parent.id);
        this.dropParent(parent.id, FailureReason.BAD_DIGEST, n);
        return;
      }
      this.pump(); // the parent has a free slot again
      await this.task.writePiece(n, buffer);
      this.stats.piecesFromParents++;
      this.stats.bytesFromParents += buffer.length;
      this.c.metrics.bytes.inc({ from: 'parent' }, buffer.length);
      this.lastProgress = Date.now();
      this.reschedules = 0;
      this.send({ case: 'pieceFinished', value: { number: n, parentId: parent.id, costMs } });
    } catch (err) {
      releaseParent();
      if (this.state !== 'running') return;
      this.onFetchError(n, parent, err);
    } finally {
      this.inFlight.delete(n);
      this.buffers.push(buffer);
      if (this.task.complete) this.finish();
      else this.pump();
    }
  }

  private onFetchError(n: number, parent: ParentState, err: unknown): void {
    const code = (err as { code?: string }).code;
    if (code === 'PARENT_BUSY') {
      parent.coolUntil = Date.now() + 250;
    } else if (code === 'PARENT_NOT_HELD') {
      parent.available.delete(n);
    } else if (++parent.failures >= 3) {
      this.log.info({ parent: parent.id, err: errorMessage(err) }, 'dropping failing parent');
      this.dropParent(parent.id, FailureReason.UNREACHABLE, n);
    } else {
      parent.coolUntil = Date.now() + 100 * parent.failures;
    }
  }

  private takeBuffer(length: number): Buffer {
    const reused = this.buffers.pop();
    return reused && reused.buffer.byteLength >= length
      ? Buffer.from(reused.buffer, reused.byteOffset, length)
      : Buffer.allocUnsafeSlow(length);
  }

  /** Nothing arriving for a while: ask for other parents; after several tries, the origin. */
  private checkStall(): void {
    if (this.state !== 'running' || this.sourcing || !this.c.scheduler) return;
    if (this.inFlight.size > 0 || Date.now() - this.lastProgress < this.init.stallTimeout) return;
    if (!this.task.hasShape) return; // still waiting for the seed peer's first answer
    this.lastProgress = Date.now();
    if (++this.reschedules > this.init.maxReschedules) {
      this.goToSource('no progress from parents');
      return;
    }
    this.send({ case: 'reschedule', value: { exclude: [...this.blocked] } });
  }

  private goToSource(reason: string): void {
    if (this.sourcing || this.state !== 'running') return;
    this.log.info({ reason }, 'fetching from the origin');
    this.sourcing = this.fetchSource().catch((err) => this.fail(err as Error));
  }

  private async fetchSource(): Promise<void> {
    const report = {
      taskInfo: (contentLength: number, pieceLength: number, pieceCount: number) =>
        this.send({
          case: 'taskInfo',
          value: { contentLength: BigInt(contentLength), pieceLength, pieceCount },
        }),
      piece: (n: number, sha256: Buffer, bytes: number) => {
        this.stats.piecesFromSource++;
        this.stats.bytesFromSource += bytes;
        this.c.metrics.bytes.inc({ from: 'source' }, bytes);
        this.lastProgress = Date.now();
        this.send({ case: 'pieceFinished', value: { number: n, parentId: '', costMs: 0, sha256 } });
      },
    };
    const req = { url: this.request.url, headers: this.request.headers };
    this.contentSha256 = await fetchFromSource(this.task, this.c.source, req, report, this.abort.signal);
    if (this.contentSha256) this.task.setContentSha256(this.contentSha256.toString('hex'));
    if (!this.task.complete)
      throw new WarrenError('SOURCE_INCOMPLETE', 'origin fetch ended with pieces missing', 502);
    this.finish();
  }

  /** All pieces are held: a content-addressed task is checked against its digest first. */
  private finish(): void {
    if (this.state !== 'running' || this.finishing) return;
    this.finishing = true;
    this.verifyContent().then(
      () => this.succeed(),
      (err) => this.fail(err as Error),
    );
  }

  /** Content-addressed: the whole content against the digest (see content-check.ts). */
  private async verifyContent(): Promise<void> {
    await checkContentDigest(this.task, this.request.url, this.contentSha256, this.abort.signal);
  }

  private succeed(): void {
    if (this.state !== 'running') return;
    this.log.debug(
      { ms: Math.round(performance.now() - this.startedAt), stats: this.stats },
      'download finished',
    );
    this.state = 'succeeded';
    const known = this.task.meta.contentSha256;
    this.send({
      case: 'downloadFinished',
      value: { contentSha256: this.contentSha256 ?? (known ? Buffer.from(known, 'hex') : new Uint8Array()) },
    });
    this.link.end();
    this.c.metrics.downloads.inc({ result: 'succeeded' });
    this.settle();
  }

  private fail(err: Error): void {
    if (this.state !== 'running') return;
    this.state = 'failed';
    this.error = err;
    this.log.warn({ err: errorMessage(err) }, 'download failed');
    this.send({ case: 'downloadFailed', value: { message: errorMessage(err), fromSource: !!this.sourcing } });
    this.link.end();
    this.task?.fail(err);
    this.c.metrics.downloads.inc({ result: 'failed' });
    this.settle(err);
    const code = (err as WarrenError).code;
    if (this.task && (code === 'DIGEST_MISMATCH' || (code === 'SOURCE_CHANGED' && this.task.meta.digest))) {
      // Bytes that do not match their digest (or, for a blob, an origin that serves
      // other bytes each time) are never kept, not even to resume.
      this.c.store.remove(this.task.id, { force: true }).catch(() => undefined);
    }
  }

  private send(message: PeerReport): void {
    this.link.send(message);
  }
}
