import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream, type ReadStream } from 'node:fs';
import { type FileHandle, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WarrenError } from '../../core/errors.js';
import { pieceCount, pieceRange } from '../../core/task.js';
import { PieceSet } from './piece-set.js';

/** What is kept about a task besides its bytes (meta.json). Never origin headers: they may hold secrets. */
export interface TaskMeta {
  taskId: string;
  url: string;
  tag: string;
  application: string;
  contentLength?: number;
  pieceLength?: number;
  /** SHA-256 (hex) of each piece, from the scheduler's manifest; null while unknown. */
  digests: (string | null)[];
  contentSha256?: string;
  /**
   * Content-addressed task: the SHA-256 (hex) the whole content must have;
   * then the task ID is this digest. Readers never see the last byte before
   * the content was checked against it.
   */
  digest?: string;
  /** The whole content was checked against `digest` (so readers need not re-hash it). */
  verified?: boolean;
  createdAt: number;
}

export interface TaskEvents {
  shape: [];
  piece: [number];
  done: [];
  failed: [Error];
  removed: [];
  verified: [];
}

/**
 * One task on disk: `data` (sparse, preallocated to the content length),
 * `meta.json` (shape and manifest) and `pieces.log` (an append-only list of
 * verified piece numbers, 4 bytes each). A piece number is appended only
 * after its bytes were verified and written, so after a crash every logged
 * piece is whole; the manifest re-check on resume catches anything else.
 */
export class StoredTask extends EventEmitter<TaskEvents> {
  /** Verified pieces: the only ones served to others or to readers. */
  pieces: PieceSet = new PieceSet(0);
  /** Pieces logged by an earlier run, not yet re-checked against the manifest. */
  readonly resumed = new Set<number>();
  lastAccess = Date.now();
  failure: Error | undefined;
  private refs = 0;
  private dataHandle: FileHandle | undefined;
  private logHandle: FileHandle | undefined;
  private metaTimer: NodeJS.Timeout | undefined;
  private metaWrites: Promise<void> = Promise.resolve();
  removed = false;

  constructor(
    readonly dir: string,
    public meta: TaskMeta,
  ) {
    super();
    this.setMaxListeners(0);
    if (meta.contentLength !== undefined && meta.pieceLength !== undefined) {
      this.pieces = new PieceSet(pieceCount(meta.contentLength, meta.pieceLength));
    }
  }

  get id(): string {
    return this.meta.taskId;
  }
  get dataPath(): string {
    return join(this.dir, 'data');
  }
  get hasShape(): boolean {
    return this.meta.contentLength !== undefined && this.meta.pieceLength !== undefined;
  }
  get complete(): boolean {
    return this.hasShape && this.pieces.complete;
  }
  get inUse(): boolean {
    return this.refs > 0;
  }
  /** Whole content checked against the task's digest (always false without a digest). */
  get verified(): boolean {
    return this.meta.digest !== undefined && this.meta.verified === true && this.complete;
  }

  /** Marks the task in use (download, upload, read) so GC leaves it; call the result to release. */
  acquire(): () => void {
    this.refs++;
    this.lastAccess = Date.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.refs--;
      this.lastAccess = Date.now();
    };
  }

  /**
   * Loads the piece log of a task found on disk. Logged pieces are only
   * `resumed`: they count once their bytes match the manifest again.
   */
  async loadPieces(): Promise<void> {
    if (!this.hasShape) return;
    const log = await readFile(join(this.dir, 'pieces.log')).catch(() => Buffer.alloc(0));
    for (let off = 0; off + 4 <= log.length; off += 4) {
      const n = log.readUInt32LE(off);
      if (n < this.pieces.size) this.resumed.add(n);
    }
  }

  /**
   * Re-checks resumed pieces whose digest is now known: matching ones become
   * held, the others are forgotten (they will be fetched again).
   */
  async verifyResumed(): Promise<{ accepted: number; dropped: number[] }> {
    let accepted = 0;
    const dropped: number[] = [];
    for (const n of [...this.resumed]) {
      const expected = this.digestOf(n);
      if (!expected) continue;
      const actual = createHash('sha256')
        .update(await this.readPiece(n))
        .digest('hex');
      if (actual === expected) {
        await this.acceptResumed(n);
        accepted++;
      } else {
        this.resumed.delete(n);
        dropped.push(n);
      }
    }
    return { accepted, dropped };
  }

  private async acceptResumed(n: number): Promise<void> {
    if (!this.resumed.delete(n)) return;
    await this.setShape(this.meta.contentLength!, this.meta.pieceLength!);
    if (this.pieces.add(n)) this.emit('piece', n);
    if (this.pieces.complete) this.emit('done');
  }

  /**
   * Sets content and piece length. If they differ from what was stored (the
   * origin changed), the old bytes are dropped.
   */
  async setShape(contentLength: number, pieceLength: number): Promise<void> {
    const same = this.meta.contentLength === contentLength && this.meta.pieceLength === pieceLength;
    if (same && this.dataHandle) return;
    if (!same) {
      this.meta.contentLength = contentLength;
      this.meta.pieceLength = pieceLength;
      this.meta.digests = new Array(pieceCount(contentLength, pieceLength)).fill(null);
      this.meta.contentSha256 = undefined;
      this.meta.verified = undefined;
      this.pieces = new PieceSet(pieceCount(contentLength, pieceLength));
      this.resumed.clear();
      await this.logHandle?.close();
      this.logHandle = undefined;
      await rm(join(this.dir, 'pieces.log'), { force: true });
    }
    if (!this.dataHandle) {
      await (await open(this.dataPath, 'a')).close(); // create without truncating what an earlier run wrote
      this.dataHandle = await open(this.dataPath, 'r+');
    }
    await this.dataHandle.truncate(contentLength);
    this.logHandle ??= await open(join(this.dir, 'pieces.log'), 'a');
    await this.saveMeta();
    this.emit('shape');
  }

  /**
   * Records piece digests from the scheduler's manifest, which wins over any
   * digest stored by an earlier run: a piece whose digest changed is dropped
   * and will be fetched again. Returns the dropped piece numbers.
   */
  setDigests(digests: Iterable<[number, string]>): number[] {
    const dropped: number[] = [];
    let changed = false;
    for (const [n, hex] of digests) {
      if (n >= this.meta.digests.length || this.meta.digests[n] === hex) continue;
      if (this.meta.digests[n]) {
        this.pieces.delete(n);
        this.resumed.delete(n);
        this.meta.verified = undefined;
        dropped.push(n);
      }
      this.meta.digests[n] = hex;
      changed = true;
    }
    if (changed) this.saveMetaSoon();
    return dropped;
  }

  setContentSha256(hex: string): void {
    if (this.meta.contentSha256 === hex) return;
    this.meta.contentSha256 = hex;
    this.saveMetaSoon();
  }

  /** Records that the whole content matched the task's digest. */
  async markVerified(): Promise<void> {
    this.meta.verified = true;
    await this.saveMeta();
    this.emit('verified');
  }

  /**
   * Forgets a held piece whose bytes on disk no longer match its digest
   * (found by a reader): the next download of the task fetches it again.
   * The piece log keeps its number; a restart re-checks it and drops it too.
   */
  dropPiece(n: number): void {
    if (!this.pieces.has(n)) return;
    this.pieces.delete(n);
    this.meta.verified = undefined;
    this.saveMetaSoon();
  }

  digestOf(n: number): string | null {
    return this.meta.digests[n] ?? null;
  }

  range(n: number): { start: number; end: number } {
    return pieceRange(n, this.meta.contentLength!, this.meta.pieceLength!);
  }

  /** Writes a piece the caller has already verified, then logs it as held. */
  async writePiece(n: number, data: Uint8Array): Promise<void> {
    if (this.removed) throw new WarrenError('TASK_REMOVED', `task ${this.id} was removed`, 410);
    if (!this.dataHandle || !this.logHandle)
      throw new WarrenError('TASK_NO_SHAPE', 'task has no shape yet', 500);
    if (this.pieces.has(n)) return;
    const { start, end } = this.range(n);
    if (data.length !== end - start) {
      throw new WarrenError('PIECE_SIZE', `piece ${n} is ${data.length} bytes, expected ${end - start}`, 500);
    }
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.dataHandle.write(
        data,
        written,
        data.length - written,
        start + written,
      );
      written += bytesWritten;
    }
    const entry = Buffer.alloc(4);
    entry.writeUInt32LE(n);
    await this.logHandle.write(entry);
    this.resumed.delete(n);
    this.pieces.add(n);
    this.lastAccess = Date.now();
    this.emit('piece', n);
    if (this.pieces.complete) {
      await this.saveMeta();
      this.emit('done');
    }
  }

  async readPiece(n: number): Promise<Buffer> {
    const { start, end } = this.range(n);
    const buf = Buffer.allocUnsafe(end - start);
    const handle = await open(this.dataPath, 'r');
    try {
      let read = 0;
      while (read < buf.length) {
        const { bytesRead } = await handle.read(buf, read, buf.length - read, start + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
    } finally {
      await handle.close();
    }
    return buf;
  }

  /** A stream of bytes [start, end) of the content; the caller checks the pieces are held. */
  createReadStream(start: number, end: number): ReadStream {
    this.lastAccess = Date.now();
    return createReadStream(this.dataPath, { start, end: end - 1, highWaterMark: 1024 * 1024 });
  }

  fail(err: Error): void {
    this.failure = err;
    this.emit('failed', err);
  }

  private saveMetaSoon(): void {
    if (this.metaTimer) return;
    this.metaTimer = setTimeout(() => {
      this.metaTimer = undefined;
      this.saveMeta().catch((err) => this.emit('failed', err));
    }, 200);
    this.metaTimer.unref();
  }

  /** Writes meta.json atomically; writes are serialized so two never race on the temp file. */
  saveMeta(): Promise<void> {
    const run = this.metaWrites.then(() => this.writeMeta());
    this.metaWrites = run.catch(() => undefined);
    return run;
  }

  private async writeMeta(): Promise<void> {
    if (this.removed) return;
    const tmp = join(this.dir, 'meta.json.tmp');
    await writeFile(tmp, JSON.stringify(this.meta), { mode: 0o600 });
    await rename(tmp, join(this.dir, 'meta.json'));
  }

  async close(): Promise<void> {
    if (this.metaTimer) {
      clearTimeout(this.metaTimer);
      this.metaTimer = undefined;
      await this.saveMeta().catch(() => undefined);
    }
    await this.dataHandle?.close().catch(() => undefined);
    await this.logHandle?.close().catch(() => undefined);
    this.dataHandle = undefined;
    this.logHandle = undefined;
  }

  /** Bytes the task occupies on disk (allocated blocks: sparse holes do not count). */
  async diskUsage(): Promise<number> {
    const st = await stat(this.dataPath).catch(() => undefined);
    return st ? st.blocks * 512 : 0;
  }
}
