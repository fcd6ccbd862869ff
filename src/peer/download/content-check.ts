import { createHash } from 'node:crypto';
import { WarrenError } from '../../core/errors.js';
import type { StoredTask } from '../storage/stored-task.js';

/**
 * Checks a complete content-addressed task against its digest and records
 * that it matched. `streamed` is the hash the origin stream computed when it
 * covered the whole content; otherwise the file is read once, in order.
 * A mismatch throws DIGEST_MISMATCH naming both digests (the caller fails
 * the task and removes its bytes). Tasks without a digest pass untouched.
 */
export async function checkContentDigest(
  task: StoredTask,
  url: string,
  streamed: Buffer | undefined,
  signal: AbortSignal,
): Promise<void> {
  const expected = task.meta.digest;
  if (!expected || task.verified) return;
  let actual = streamed?.toString('hex');
  if (!actual) {
    const hash = createHash('sha256');
    const length = task.meta.contentLength ?? 0;
    if (length > 0) {
      const stream = task.createReadStream(0, length);
      const stop = () => stream.destroy();
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
      } finally {
        signal.removeEventListener('abort', stop);
      }
    }
    actual = hash.digest('hex');
  }
  if (actual !== expected) {
    throw new WarrenError(
      'DIGEST_MISMATCH',
      `content of ${url} has sha256:${actual}, expected sha256:${expected}; nothing was kept`,
      502,
    );
  }
  await task.markVerified();
}
