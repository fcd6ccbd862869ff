import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { WarrenError } from '../../core/errors.js';
import type { StoredTask } from '../storage/stored-task.js';

/** How a content response is framed besides its bytes. */
export interface StreamOptions {
  /**
   * An HTTP byte range (`end` inclusive, absent for "to the end"), checked
   * once the content length is known: a 206 with Content-Range, or a 416.
   */
  range?: { start: number; end?: number };
  /** Extra response headers (e.g. content-type, Docker-Content-Digest). */
  headers?: Record<string, string>;
  /** Called when the response is cut after its headers (download failed, piece corrupt on disk). */
  onCut?: (err: unknown) => void;
}

/**
 * Streams a task's content in order, each run of consecutive verified pieces
 * as soon as it is there; ends the connection abruptly if the download fails
 * so that a reader can never mistake a partial body for the whole.
 *
 * A content-addressed task (one with a digest) is read piece by piece, each
 * piece checked against its digest as it leaves the disk (so bytes corrupted
 * at rest never reach a reader: the piece is dropped and the connection cut),
 * and its last piece only once the whole content matched the digest: no
 * reader ever receives the last byte of content that was not verified.
 * Memory: one piece per such reader.
 */
export async function streamContent(
  task: StoredTask,
  res: ServerResponse,
  options: StreamOptions = {},
): Promise<void> {
  const release = task.acquire();
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  try {
    if (!task.hasShape) await waitFor(task, () => task.hasShape, gone.signal);
    const total = task.meta.contentLength!;
    const { start, end } = satisfiable(options.range, total);
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      ...options.headers,
      'content-length': end - start,
    };
    if (options.range) headers['content-range'] = `bytes ${start}-${end - 1}/${total}`;
    res.writeHead(options.range ? 206 : 200, headers);
    if (res.req?.method === 'HEAD') {
      res.end();
      return;
    }
    const chunks = task.meta.digest
      ? verifiedChunks(task, start, end, gone.signal)
      : heldChunks(task, start, end, gone.signal);
    for await (const chunk of chunks) {
      if (!res.write(chunk)) await once(res, 'drain', { signal: gone.signal });
    }
    res.end();
  } catch (err) {
    if (!res.headersSent) throw err;
    if (!gone.signal.aborted) options.onCut?.(err);
    res.destroy();
  } finally {
    release();
  }
}

/** [start, end) of a range against the content length; a range past the end is a 416. */
function satisfiable(range: StreamOptions['range'], total: number): { start: number; end: number } {
  if (!range) return { start: 0, end: total };
  const end = Math.min(range.end === undefined ? total : range.end + 1, total);
  if (range.start >= total || end <= range.start) {
    throw new WarrenError(
      'RANGE_NOT_SATISFIABLE',
      `range starts at or after the content's ${total} bytes`,
      416,
    );
  }
  return { start: range.start, end };
}

/** Runs of held pieces straight from the file (the pieces were verified when written). */
async function* heldChunks(task: StoredTask, start: number, end: number, signal: AbortSignal) {
  const pieceLength = task.meta.pieceLength!;
  let position = start;
  while (position < end) {
    const n = Math.floor(position / pieceLength);
    if (!task.pieces.has(n)) await waitFor(task, () => task.pieces.has(n), signal);
    let last = n;
    while (task.pieces.has(last + 1) && task.range(last + 1).start < end) last++;
    const stop = Math.min(task.range(last).end, end);
    const stream = task.createReadStream(position, stop);
    const destroy = () => stream.destroy();
    signal.addEventListener('abort', destroy, { once: true });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
    } finally {
      signal.removeEventListener('abort', destroy);
    }
    position = stop;
  }
}

/** Pieces of a content-addressed task, each re-checked on read, the last held until verified. */
async function* verifiedChunks(task: StoredTask, start: number, end: number, signal: AbortSignal) {
  const pieceLength = task.meta.pieceLength!;
  const lastPiece = task.pieces.size - 1;
  for (let n = Math.floor(start / pieceLength); n * pieceLength < end; n++) {
    if (!task.pieces.has(n)) await waitFor(task, () => task.pieces.has(n), signal);
    if (n === lastPiece && !task.verified) await waitFor(task, () => task.verified, signal);
    const piece = await task.readPiece(n);
    const expected = task.digestOf(n);
    if (!expected || createHash('sha256').update(piece).digest('hex') !== expected) {
      task.dropPiece(n);
      throw new WarrenError(
        'PIECE_CORRUPT',
        `piece ${n} of task ${task.id} no longer matches its digest on disk; it will be fetched again`,
        500,
      );
    }
    const { start: pieceStart } = task.range(n);
    yield piece.subarray(Math.max(start - pieceStart, 0), Math.min(end - pieceStart, piece.length));
  }
  // Empty content has no last piece to hold back: the end of the body waits instead.
  if (end === task.meta.contentLength && !task.verified) await waitFor(task, () => task.verified, signal);
}

/** Resolves when `ready()` holds after a task event; rejects if the task fails or goes. */
export function waitFor(task: StoredTask, ready: () => boolean, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (ready()) done();
    };
    const failed = (err?: Error) =>
      done(err ?? new WarrenError('TASK_REMOVED', `task ${task.id} was removed`, 410));
    const aborted = () => done(new WarrenError('CLIENT_GONE', 'reader went away', 499));
    const done = (err?: Error) => {
      task.off('piece', check);
      task.off('shape', check);
      task.off('verified', check);
      task.off('failed', failed);
      task.off('removed', failed);
      signal.removeEventListener('abort', aborted);
      if (err) reject(err);
      else resolve();
    };
    task.on('piece', check);
    task.on('shape', check);
    task.on('verified', check);
    task.once('failed', failed);
    task.once('removed', failed);
    signal.addEventListener('abort', aborted, { once: true });
    if (task.failure) failed(task.failure);
    else check();
  });
}
