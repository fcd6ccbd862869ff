import { PassThrough, type Readable } from 'node:stream';
import { WarrenError } from '../../core/errors.js';
import type { Dependency } from './order.js';

/* Small helpers of the sandbox: labels read back, conflicts worded, log streams merged. */

/** The depends_on label of a container (JSON written by plan.ts); nothing when unreadable. */
export function parseDependsOn(label: string | undefined): Dependency[] {
  try {
    const parsed = JSON.parse(label ?? '[]') as Dependency[];
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/** Lines of several streams, each prefixed; one after the other, or interleaved as they come when following. */
export function mergeLogs(sources: Array<{ prefix: string; stream: Readable }>, follow: boolean): Readable {
  const out = new PassThrough({ objectMode: true, highWaterMark: 256 });
  out.on('close', () => {
    for (const { stream } of sources) stream.destroy();
  });
  const pump = async ({ prefix, stream }: { prefix: string; stream: Readable }) => {
    for await (const line of stream) {
      if (out.destroyed) return;
      if (!out.write(`${prefix}${line}`)) {
        await new Promise((resolve) => {
          out.once('drain', resolve);
          out.once('close', resolve);
        });
      }
    }
  };
  const run = follow
    ? Promise.all(sources.map(pump))
    : sources.reduce<Promise<unknown>>((chain, source) => chain.then(() => pump(source)), Promise.resolve());
  run.then(
    () => out.end(),
    (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return out;
}

/** SANDBOX_NAME_CONFLICT: names Warren wants are taken by objects that are not this instance's. */
export function conflict(what: string, detail?: string): WarrenError {
  return new WarrenError(
    'SANDBOX_NAME_CONFLICT',
    `${what} already exist${what.includes(',') ? '' : 's'} in Docker but ${what.includes(',') ? 'are' : 'is'} not this Warren instance's (no matching dev.warren.* labels); ` +
      `Warren never touches objects it did not make: rename or remove ${what.includes(',') ? 'them' : 'it'} yourself${detail ? ` (${detail})` : ''}`,
    409,
  );
}
