import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

const CHUNK = 1024 * 1024;
/** OpenSSL's AES-CTR runs several times faster on 64 KiB inputs (they stay in cache) than on 1 MiB. */
const CIPHER_BLOCK = 64 * 1024;

/** What {@link makeRandomFile} wrote. */
export interface RandomFile {
  path: string;
  size: number;
  /** Hex SHA-256 of the whole content. */
  sha256: string;
}

/**
 * Writes `size` bytes of deterministic pseudo-random content to `path`: the
 * AES-256-CTR keystream of a key derived from `seed`. Same seed and size, same
 * bytes; different seeds, unrelated bytes. Streams 1 MiB at a time, so memory
 * does not grow with the size; runs at a few GiB/s.
 */
export async function makeRandomFile(path: string, size: number, seed = path): Promise<RandomFile> {
  const key = createHash('sha256').update(`warren-test-file:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CIPHER_BLOCK);
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    // Make the next chunk while the previous one is being written.
    let writing: Promise<unknown> = Promise.resolve();
    for (let offset = 0; offset < size; offset += CHUNK) {
      const n = Math.min(CHUNK, size - offset);
      const parts: Buffer[] = [];
      for (let done = 0; done < n; done += CIPHER_BLOCK) {
        parts.push(cipher.update(zeros.subarray(0, Math.min(CIPHER_BLOCK, n - done))));
      }
      const chunk = Buffer.concat(parts, n);
      hash.update(chunk);
      await writing;
      writing = handle.write(chunk, 0, n, offset);
    }
    await writing;
  } finally {
    await handle.close();
  }
  return { path, size, sha256: hash.digest('hex') };
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: CHUNK }), hash);
  return hash.digest('hex');
}

/** Flips (XOR 0xff) `length` bytes of a file in place at `offset`, to simulate corruption. */
export async function corruptFile(path: string, offset: number, length = 1): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, offset);
    if (bytesRead !== length) throw new Error(`${path}: cannot corrupt ${length} bytes at ${offset}`);
    for (let i = 0; i < length; i++) buf[i] = buf[i]! ^ 0xff;
    await handle.write(buf, 0, length, offset);
  } finally {
    await handle.close();
  }
}
