import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { parseDigest } from '../../core/digest.js';
import { errorMessage, WarrenError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import type { TaskStatus } from '../../peer/api/local-api.js';
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

const collect = (value: string, previous: string[]) => [...previous, value];

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

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new WarrenError('BAD_HEADER', `header '${line}' is not of the form 'Name: value'`, 400);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

async function get(url: string, flags: GetFlags) {
  const expected = flags.digest ? parseDigest(flags.digest) : undefined;
  const body = {
    url,
    headers: parseHeaders(flags.header),
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
    // Every byte the peer streams is in a piece verified against the manifest;
    // the whole-content hash is computed here only when the caller names a digest.
    const hash = expected ? createHash('sha256') : undefined;
    const file = createWriteStream(partial, { flags: 'wx', mode: 0o644, highWaterMark: 4 * 1024 * 1024 });
    let written = 0;
    try {
      const { length, body: content } = await client.stream(`/v1/tasks/${taskId}/content`);
      bar?.start(length, 0, { peers: 0, source: 0, rate: '' });
      for await (const chunk of content) {
        hash?.update(chunk);
        written += chunk.length;
        if (!file.write(chunk)) await once(file, 'drain');
        bar?.update(written, progress(status, written, started));
      }
      if (written !== length)
        throw new WarrenError('SHORT_CONTENT', `got ${written} of ${length} bytes`, 502);
      await new Promise<void>((resolve, reject) =>
        file.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
    } catch (err) {
      file.destroy();
      if (!file.closed) await once(file, 'close'); // so the partial file is gone for good below
      const final = await client.json<TaskStatus>('GET', `/v1/tasks/${taskId}`).catch(() => undefined);
      throw final?.error ? new WarrenError(final.error.code, final.error.message, 502) : err;
    }
    const digest = hash?.digest();
    if (expected && digest && !digest.equals(expected)) {
      throw new WarrenError(
        'DIGEST_MISMATCH',
        `content of ${url} has sha256:${digest.toString('hex')}, expected ${flags.digest}; nothing was written to ${flags.output}`,
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
      sha256: digest ? `sha256:${digest.toString('hex')}` : (status?.contentSha256 ?? null),
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

async function newBar(): Promise<SingleBar> {
  const { SingleBar } = await import('cli-progress');
  return new SingleBar({
    format:
      '{bar} {percentage}% | {value_fmt}/{total_fmt} | {rate} | pieces: {peers} from peers, {source} from source',
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
    value_fmt: formatBytes(written),
  };
}
