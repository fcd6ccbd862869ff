import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { type Dispatcher, Pool } from 'undici';
import { errorMessage, WarrenError } from '../../core/errors.js';
import { readBounded } from '../../core/oci/registry-auth.js';

/*
 * The cloud's client of the local peer's API (a unix socket only the cloud's
 * user may open): start a content-addressed download, stream the verified
 * bytes to a file under a size bound, and read a task's status. The peer
 * checks every piece and the whole content against the digest before it
 * hands over the last byte; the cloud hashes again as the bytes arrive.
 */

export interface PeerTaskStatus {
  taskId: string;
  url: string;
  state: 'running' | 'succeeded' | 'failed' | 'stored';
  contentLength: number | null;
  contentSha256: string | null;
  error?: { code: string; message: string };
}

export interface DownloadedFile {
  taskId: string;
  sha256: string;
  bytes: number;
}

const MAX_JSON = 1024 * 1024;

export class PeerApiClient {
  private readonly client: Pool;

  constructor(readonly socketPath: string) {
    // The content answer waits for the download to start: a generous header timeout.
    this.client = new Pool('http://peer', {
      socketPath,
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
      connections: 4,
    });
  }

  /**
   * Downloads `url` through the peer as content `digest` (`sha256:<hex>`) into
   * `path` (created, never overwritten): more than `maxBytes` is refused
   * before or while reading, and the file is removed on any failure.
   */
  async downloadToFile(
    request: { url: string; digest: string },
    path: string,
    maxBytes: number,
    signal?: AbortSignal,
  ): Promise<DownloadedFile> {
    const { taskId } = await this.json<{ taskId: string }>('POST', '/v1/downloads', request, signal);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.request('GET', `/v1/tasks/${taskId}/content`, undefined, signal);
    } catch (err) {
      throw await this.failure(taskId, err);
    }
    if (res.statusCode !== 200) {
      const text = await readText(res.body, 64 * 1024).catch(() => '');
      throw await this.failure(taskId, peerError(res.statusCode, text));
    }
    const length = Number(res.headers['content-length']);
    if (Number.isFinite(length) && length > maxBytes) {
      res.body.destroy();
      throw new WarrenError(
        'RELEASE_TOO_LARGE',
        `${request.url} is ${length} bytes, more than the ${maxBytes} a release may have`,
        502,
      );
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const count = async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > maxBytes) {
          throw new WarrenError('RELEASE_TOO_LARGE', `${request.url} sent more than ${maxBytes} bytes`, 502);
        }
        hash.update(chunk);
        yield chunk;
      }
    };
    try {
      await pipeline(res.body, count, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      await unlink(path).catch(() => {});
      if (err instanceof WarrenError && err.code === 'RELEASE_TOO_LARGE') throw err;
      throw await this.failure(taskId, err);
    }
    if (Number.isFinite(length) && bytes !== length) {
      await unlink(path).catch(() => {});
      throw await this.failure(taskId, new Error(`cut off after ${bytes} of ${length} bytes`));
    }
    return { taskId, sha256: hash.digest('hex'), bytes };
  }

  async task(taskId: string): Promise<PeerTaskStatus | undefined> {
    try {
      return await this.json<PeerTaskStatus>('GET', `/v1/tasks/${taskId}`);
    } catch (err) {
      if (err instanceof WarrenError && err.status === 404) return undefined;
      throw err;
    }
  }

  async tasks(): Promise<PeerTaskStatus[]> {
    return (await this.json<{ tasks: PeerTaskStatus[] }>('GET', '/v1/tasks')).tasks;
  }

  /**
   * Why a download failed, in the peer's words when it knows. Content that
   * did not match its digest becomes RELEASE_DIGEST_MISMATCH (the store
   * served other bytes than the index names): the peer says DIGEST_MISMATCH
   * while it reports the failure, and then drops the task at once (bytes that
   * do not match their digest are never kept, peer/download/task-download.ts),
   * so a content-addressed task that vanished as its content was cut failed
   * that way too.
   */
  private async failure(taskId: string, cause: unknown): Promise<WarrenError> {
    const read = () =>
      this.task(taskId).then(
        (status) => status ?? ('gone' as const),
        () => 'unknown' as const,
      );
    let status = await read();
    // The peer cuts the content as its task fails; the task's own error may follow a moment later.
    for (
      let i = 0;
      i < 50 && typeof status === 'object' && status.state === 'running' && !status.error;
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await read();
    }
    const error = typeof status === 'object' ? status.error : undefined;
    const causeCode = cause instanceof WarrenError ? cause.code : undefined;
    if (status === 'gone' || error?.code === 'DIGEST_MISMATCH' || causeCode === 'DIGEST_MISMATCH') {
      return new WarrenError(
        'RELEASE_DIGEST_MISMATCH',
        `the release's bytes do not match the digest the store index lists: ${
          error?.message ?? 'the peer refused the content and dropped its download'
        }`,
        502,
      );
    }
    if (error) {
      return new WarrenError(
        `PEER_${error.code}`.slice(0, 64),
        `peer download failed: ${error.message}`,
        502,
      );
    }
    if (cause instanceof WarrenError) return cause;
    return new WarrenError(
      'PEER_DOWNLOAD_FAILED',
      `download through the peer failed: ${errorMessage(cause)}`,
      502,
    );
  }

  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.request(method, path, body, signal);
    const text = await readText(res.body, MAX_JSON);
    if (res.statusCode >= 400) throw peerError(res.statusCode, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new WarrenError('PEER_ERROR', `the peer answered ${path} with something that is not JSON`, 502);
    }
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await this.client.request({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
        throw new WarrenError(
          'PEER_UNREACHABLE',
          `cannot open the local peer's socket ${this.socketPath} (${code}): is the peer running, and may the cloud's user use it?`,
          503,
        );
      }
      throw new WarrenError('PEER_UNREACHABLE', `the local peer did not answer: ${errorMessage(err)}`, 503);
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function peerError(status: number, text: string): WarrenError {
  let error: { code?: string; message?: string } | undefined;
  try {
    error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
  } catch {}
  return new WarrenError(
    error?.code ?? 'PEER_ERROR',
    error?.message ?? `the peer answered ${status}`,
    status >= 500 ? 502 : status,
  );
}

/** A bounded JSON answer of the peer, as text. */
async function readText(body: AsyncIterable<Buffer> & { destroy(): unknown }, max: number): Promise<string> {
  return (await readBounded(body, max, 'the peer')).toString('utf8');
}
