import { createHash, type Hash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { formatDigest, parseDigest } from '../../core/digest.js';
import { errorMessage, WarrenError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import type { TaskStatus } from '../../peer/api/local-api.js';
import { collect, parseHeaderLines } from '../option-parsers.js';
import type { PeerClient as PeerClientType } from '../peer-client.js';

export const DEFAULT_SOCKET = 'warren-data/peer/peer.sock';

interface GetFlags {
  output: string;
  digest?: string;
  header: string[];
  tag?: string;
  application?: string;
  filterQuery: string[];
  socket: string;
  json?: boolean;
}

/** `warren get URL -O FILE`: download through the local peer, like dfget. */
export function registerGetCommand(program: Command): void {
  program
    .command('get <url>')
    .description('download a file through the local peer (P2P, every piece verified)')
    .requiredOption('-O, --output <file>', 'where to write the file')
    .option('--digest <sha256:hex>', 'expected SHA-256 of the whole content; on mismatch no file is left')
    .option('-H, --header <header>', "origin request header 'Name: value' (repeatable)", collect, [])
    .option('--tag <tag>', 'tag: different tags make different tasks for the same URL')
    .option('--application <name>', 'application name, part of the task id')
    .option('--filter-query <name>', 'query parameter left out of the task id (repeatable)', collect, [])
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .option('--json', 'print a machine-readable result and no progress')
    .action(async (url: string, flags: GetFlags) => {
      const result = await get(url, flags);
      if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    });
}

async function get(url: string, flags: GetFlags) {
  const expected = flags.digest ? parseDigest(flags.digest) : undefined;
  const body = {
    url,
    headers: parseHeaderLines(flags.header),
    tag: flags.tag,
    application: flags.application,
    filterQuery: flags.filterQuery,
  };
  const output = resolve(flags.output);
  const partial = join(dirname(output), `.${basename(output)}.warren-${randomBytes(4).toString('hex')}.part`);
  const { PeerClient } = await import('../peer-client.js');
  const client: PeerClientType = new PeerClient(flags.socket);
  const started = performance.now();
  const bar = !flags.json && process.stderr.isTTY ? await newBar() : undefined;
  let taskId = '';
  let status: TaskStatus | undefined;
  const poll = setInterval(async () => {
    if (taskId) status = await client.json<TaskStatus>('GET', `/v1/tasks/${taskId}`).catch(() => status);
  }, 250);
  try {
    ({ taskId } = await client.json<{ taskId: string }>('POST', '/v1/downloads', body));
    // Every byte the peer hands over is in a piece verified against the
    // manifest; the whole content is hashed here only when a digest is named.
    const hash = expected ? createHash('sha256') : undefined;
    const fail = async (err: unknown) => {
      const final = await client.json<TaskStatus>('GET', `/v1/tasks/${taskId}`).catch(() => undefined);
      return final?.error ? new WarrenError(final.error.code, final.error.message, 502) : err;
    };
    const onProgress = (done: number, total: number) => {
      if (bar && bar.getTotal() !== total) bar.start(total, 0, { peers: 0, source: 0, rate: '' });
      bar?.update(done, progress(status, done, started));
    };
    let written: number;
    try {
      written = await exportTo(client, taskId, partial, () => status, onProgress);
      if (hash) await hashFile(partial, hash);
    } catch (err) {
      if ((err as WarrenError).code !== 'EXPORT_NOT_ALLOWED') throw await fail(err);
      try {
        written = await streamTo(client, taskId, partial, hash, onProgress);
      } catch (streamErr) {
        throw await fail(streamErr);
      }
    }
    const digest = hash?.digest();
    if (expected && digest && !digest.equals(expected)) {
      throw new WarrenError(
        'DIGEST_MISMATCH',
        `content of ${url} has ${formatDigest(digest)}, expected ${flags.digest}; nothing was written to ${flags.output}`,
        409,
      );
    }
    await rename(partial, output);
    bar?.stop();
    status = await client.json<TaskStatus>('GET', `/v1/tasks/${taskId}`).catch(() => status);
    const seconds = (performance.now() - started) / 1000;
    return {
      taskId,
      output,
      bytes: written,
      sha256: digest ? formatDigest(digest) : (status?.contentSha256 ?? null),
      seconds: Number(seconds.toFixed(3)),
      piecesFromParents: status?.stats?.piecesFromParents ?? 0,
      piecesFromSource: status?.stats?.piecesFromSource ?? 0,
      piecesResumed: status?.stats?.piecesResumed ?? 0,
    };
  } catch (err) {
    bar?.stop();
    await rm(partial, { force: true });
    if (err instanceof WarrenError) throw err;
    throw new WarrenError('DOWNLOAD_FAILED', `download of ${url} failed: ${errorMessage(err)}`, 502);
  } finally {
    clearInterval(poll);
    await client.close();
  }
}

/**
 * Has the peer copy the finished task into `partial` (no bytes through this
 * process); shows progress from the status while the download runs.
 */
async function exportTo(
  client: PeerClientType,
  taskId: string,
  partial: string,
  status: () => TaskStatus | undefined,
  onProgress: (done: number, total: number) => void,
): Promise<number> {
  const ticker = setInterval(() => {
    const s = status();
    if (s?.contentLength && s.pieceCount)
      onProgress(Math.round((s.contentLength * s.piecesHeld) / s.pieceCount), s.contentLength);
  }, 250);
  try {
    const { bytes } = await client.json<{ bytes: number }>('POST', `/v1/tasks/${taskId}/export`, {
      path: partial,
    });
    onProgress(bytes, bytes);
    return bytes;
  } finally {
    clearInterval(ticker);
  }
}

/** Reads the content from the peer's socket into `partial`, in order, as pieces arrive. */
async function streamTo(
  client: PeerClientType,
  taskId: string,
  partial: string,
  hash: Hash | undefined,
  onProgress: (done: number, total: number) => void,
): Promise<number> {
  const file = createWriteStream(partial, { flags: 'wx', mode: 0o644, highWaterMark: 4 * 1024 * 1024 });
  let written = 0;
  try {
    const { length, body: content } = await client.stream(`/v1/tasks/${taskId}/content`);
    for await (const chunk of content) {
      hash?.update(chunk);
      written += chunk.length;
      if (!file.write(chunk)) await once(file, 'drain');
      onProgress(written, length);
    }
    if (written !== length) throw new WarrenError('SHORT_CONTENT', `got ${written} of ${length} bytes`, 502);
    await new Promise<void>((resolve, reject) =>
      file.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    return written;
  } catch (err) {
    file.destroy();
    if (!file.closed) await once(file, 'close'); // so the partial file is gone for good after
    throw err;
  }
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
  }
}

async function newBar(): Promise<SingleBar> {
  const { SingleBar } = await import('cli-progress');
  return new SingleBar({
    format:
      '{bar} {percentage}% | {value}/{total} | {rate} | pieces: {peers} from peers, {source} from source',
    formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? formatBytes(v) : String(v)),
    stream: process.stderr,
    hideCursor: true,
  });
}

function progress(status: TaskStatus | undefined, written: number, started: number) {
  const seconds = (performance.now() - started) / 1000;
  return {
    peers: status?.stats?.piecesFromParents ?? 0,
    source: status?.stats?.piecesFromSource ?? 0,
    rate: `${formatBytes(written / Math.max(seconds, 0.001))}/s`,
  };
}
