import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WarrenError } from '../../core/errors.js';

/** A request body written to a temporary file, with what it held. */
export interface ReceivedBlob {
  path: string;
  sha256: string;
  bytes: number;
}

const HEX = /^[0-9a-f]{64}$/;

/**
 * Release zips on disk, content-addressed: `<data>/blobs/sha256/<hex>`. An
 * upload is streamed to `<data>/tmp` under a byte limit (never held whole in
 * memory), then renamed into place once the database row is written. Temp
 * files left by a crash are removed at the next start.
 */
export class BlobStore {
  readonly blobDir: string;
  readonly tmpDir: string;

  constructor(data: string) {
    this.blobDir = join(data, 'blobs', 'sha256');
    this.tmpDir = join(data, 'tmp');
  }

  async open(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true, mode: 0o755 });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  /** Where the blob with this digest is (whether or not it exists). */
  pathOf(sha256: string): string {
    if (!HEX.test(sha256)) throw new WarrenError('BAD_REQUEST', 'not a SHA-256 digest', 400);
    return join(this.blobDir, sha256);
  }

  /**
   * Streams `body` into a new temporary file, hashing it. More than `limit`
   * bytes: the file is removed and `tooLarge()` thrown, without reading on.
   */
  async receive(body: Readable, limit: number, tooLarge: () => Error): Promise<ReceivedBlob> {
    const path = join(this.tmpDir, `upload-${randomBytes(12).toString('hex')}.zip`);
    const hash = createHash('sha256');
    let bytes = 0;
    const count = async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > limit) throw tooLarge();
        hash.update(chunk);
        yield chunk;
      }
    };
    try {
      await pipeline(body, count, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      await unlink(path).catch(() => {});
      throw err;
    }
    return { path, sha256: hash.digest('hex'), bytes };
  }

  /** Renames a received file into its content address. */
  async place(received: ReceivedBlob): Promise<string> {
    const target = this.pathOf(received.sha256);
    await rename(received.path, target);
    return target;
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch {
      return undefined;
    }
  }

  /** Files in the temporary folder (tests check that every failure path cleans up). */
  async temporaryFiles(): Promise<string[]> {
    return readdir(this.tmpDir);
  }
}
