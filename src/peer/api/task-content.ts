import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { WarrenError } from '../../core/errors.js';
import type { StoredTask } from '../storage/stored-task.js';

/**
 * Streams a task's content in order, each run of consecutive verified pieces
 * as soon as it is there; ends the connection abruptly if the download fails
 * so that a reader can never mistake a partial body for the whole.
 */
export async function streamContent(task: StoredTask, res: ServerResponse): Promise<void> {
  const release = task.acquire();
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  try {
    if (!task.hasShape) await waitFor(task, () => task.hasShape, gone.signal);
    const total = task.pieces.size;
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': task.meta.contentLength!,
    });
    let n = 0;
    while (n < total) {
      if (!task.pieces.has(n)) await waitFor(task, () => task.pieces.has(n), gone.signal);
      let last = n;
      while (last + 1 < total && task.pieces.has(last + 1)) last++;
      const stream = task.createReadStream(task.range(n).start, task.range(last).end);
      gone.signal.addEventListener('abort', () => stream.destroy(), { once: true });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (!res.write(chunk)) await once(res, 'drain', { signal: gone.signal });
      }
      n = last + 1;
    }
    res.end();
  } catch (err) {
    if (!res.headersSent) throw err;
    res.destroy();
  } finally {
    release();
  }
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
      task.off('failed', failed);
      task.off('removed', failed);
      signal.removeEventListener('abort', aborted);
      if (err) reject(err);
      else resolve();
    };
    task.on('piece', check);
    task.on('shape', check);
    task.once('failed', failed);
    task.once('removed', failed);
    signal.addEventListener('abort', aborted, { once: true });
    if (task.failure) failed(task.failure);
    else check();
  });
}
