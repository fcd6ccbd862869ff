import { createHash } from 'node:crypto';
import { WarrenError } from '../../core/errors.js';
import { pieceCount, pieceLengthFor } from '../../core/task.js';
import type { HttpSource } from '../source/http-source.js';
import type { StoredTask } from '../storage/stored-task.js';

/** What a back-to-source download tells the scheduler: it writes the manifest. */
export interface ManifestReporter {
  taskInfo(contentLength: number, pieceLength: number, pieceCount: number): void;
  piece(n: number, sha256: Buffer, bytes: number): void;
}

/**
 * Fetches a task's missing pieces from the origin in one streaming GET (a
 * range from the first missing piece where the origin supports ranges),
 * hashing each piece as it completes. Memory: one piece buffer.
 *
 * Where the manifest already has a digest for a piece (another peer fetched
 * it first), the origin's bytes must match it: a mismatch means the origin
 * changed under the task and the download fails rather than mixing versions.
 *
 * Returns the whole content's SHA-256 when the stream covered all of it.
 */
export async function fetchFromSource(
  task: StoredTask,
  source: HttpSource,
  request: { url: string; headers: Record<string, string> },
  report: ManifestReporter,
  signal: AbortSignal,
): Promise<Buffer | undefined> {
  let start = 0;
  if (task.hasShape) {
    const missing = firstMissing(task);
    if (missing === undefined) return undefined;
    start = task.range(missing).start;
  }
  const res = await source.open(request.url, request.headers, start, signal);
  try {
    if (!task.hasShape) {
      const pieceLength = pieceLengthFor(res.contentLength);
      await task.setShape(res.contentLength, pieceLength);
      report.taskInfo(res.contentLength, pieceLength, pieceCount(res.contentLength, pieceLength));
    } else if (res.contentLength !== task.meta.contentLength) {
      throw new WarrenError(
        'SOURCE_CHANGED',
        `origin now sends ${res.contentLength} bytes, the task has ${task.meta.contentLength}`,
        502,
      );
    }
    return await consume(task, res.start, res.body, report);
  } finally {
    res.close();
  }
}

/**
 * Disk writes in flight while the origin stream goes on: the stream waits
 * for the disk only when this many pieces are still being written (a paused
 * origin stream loses bandwidth it cannot make up).
 */
const MAX_PENDING_WRITES = 4;

async function consume(
  task: StoredTask,
  offset: number,
  body: AsyncIterable<Buffer>,
  report: ManifestReporter,
): Promise<Buffer | undefined> {
  const contentLength = task.meta.contentLength!;
  const pieceLength = task.meta.pieceLength!;
  const whole = offset === 0 ? createHash('sha256') : undefined;
  let n = Math.floor(offset / pieceLength);
  let buffer = Buffer.allocUnsafe(task.range(n).end - task.range(n).start);
  let hash = createHash('sha256');
  let filled = 0;
  let position = offset;
  const pending: Promise<void>[] = [];
  const finishPiece = async () => {
    const digest = hash.digest();
    const known = task.digestOf(n);
    if (known && known !== digest.toString('hex')) {
      throw new WarrenError(
        'SOURCE_CHANGED',
        `origin bytes of piece ${n} differ from the task's manifest`,
        502,
      );
    }
    // The origin peer keeps its own manifest too: readers and a restart re-check pieces against it.
    if (!known) task.setDigests([[n, digest.toString('hex')]]);
    const [number, bytes] = [n, buffer];
    // Reported once on disk, so that a child told about the piece can fetch it.
    const written = task.pieces.has(number) ? Promise.resolve() : task.writePiece(number, bytes);
    pending.push(written.then(() => report.piece(number, digest, bytes.length)));
    if (pending.length >= MAX_PENDING_WRITES) await pending.shift();
    n++;
    filled = 0;
    hash = createHash('sha256');
    if (position < contentLength) buffer = Buffer.allocUnsafe(task.range(n).end - task.range(n).start);
  };
  try {
    for await (const chunk of body) {
      if (position + chunk.length > contentLength) {
        throw new WarrenError(
          'SOURCE_TOO_LONG',
          `origin sent more than its Content-Length of ${contentLength}`,
          502,
        );
      }
      whole?.update(chunk);
      let used = 0;
      while (used < chunk.length) {
        const take = Math.min(chunk.length - used, buffer.length - filled);
        chunk.copy(buffer, filled, used, used + take);
        hash.update(chunk.subarray(used, used + take));
        filled += take;
        used += take;
        position += take;
        if (filled === buffer.length) await finishPiece();
      }
    }
  } finally {
    // Never leave writes running behind a failed fetch; their errors surface here.
    await Promise.all(pending);
  }
  if (position !== contentLength) {
    throw new WarrenError(
      'SOURCE_TRUNCATED',
      `origin closed after ${position} of ${contentLength} bytes`,
      502,
    );
  }
  return whole?.digest();
}

function firstMissing(task: StoredTask): number | undefined {
  for (let n = 0; n < task.pieces.size; n++) if (!task.pieces.has(n)) return n;
  return undefined;
}
