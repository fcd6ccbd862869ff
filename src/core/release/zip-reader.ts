import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import yauzl from 'yauzl';
import { crc32 } from './content.js';
import {
  APP_YML,
  COMPOSE_YML,
  checkEntryName,
  decodeEntryName,
  foldEntryName,
  ICON_NAMES,
  isReleaseEntryName,
  quoteName,
} from './paths.js';
import { ReleaseError, type ReleaseLimits } from './types.js';

/**
 * Reading a release zip without trusting it: the file is read once into a
 * buffer no larger than `maxZipBytes` (hashing as it goes, so the digest
 * covers exactly the bytes checked), the central directory is checked entry
 * by entry before any byte is inflated, and the allowed entries are then
 * inflated into bounded buffers, counting bytes and stopping at the first
 * limit passed. Nothing is written to disk.
 */

/** Work done, for tests and benchmarks that assert a bomb was stopped early. */
export interface ZipReadStats {
  /** Bytes produced by inflating (or copying stored) entry data. */
  inflatedBytes: number;
}

/** Per-entry ratio checks start past this size: tiny files compress oddly, and they cannot hurt. */
export const RATIO_CHECK_FLOOR_BYTES = 64 * 1024;

export interface ZipFileBytes {
  bytes: Buffer;
  sha256: string;
}

/** Reads the whole zip into memory, refusing it as soon as it is larger than the limit (whatever stat says). */
export async function readZipFileBounded(path: string, maxZipBytes: number): Promise<ZipFileBytes> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new ReleaseError('RELEASE_UNREADABLE', path, `cannot open: ${err.code ?? err.message}`);
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new ReleaseError('RELEASE_UNREADABLE', path, 'not a regular file');
    if (info.size > maxZipBytes) {
      throw new ReleaseError('ZIP_TOO_LARGE', path, `${info.size} bytes; the limit is ${maxZipBytes}`);
    }
    const hash = createHash('sha256');
    // One byte of slack tells a file that grew past the limit from one that fits exactly.
    const bytes = Buffer.alloc(Math.min(info.size, maxZipBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(bytes, length, bytes.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxZipBytes) {
        throw new ReleaseError(
          'ZIP_TOO_LARGE',
          path,
          `grew past the limit of ${maxZipBytes} bytes while read`,
        );
      }
      if (length === bytes.length) throw new ReleaseError('RELEASE_UNREADABLE', path, 'grew while read');
    }
    const data = bytes.subarray(0, length);
    hash.update(data);
    return { bytes: data, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

interface CheckedEntry {
  name: string;
  entry: yauzl.Entry;
}

/**
 * The release's entries, name → content, after every zip-level check.
 * Throws ReleaseError on the first refusal.
 */
export async function readReleaseEntries(
  bytes: Buffer,
  limits: ReleaseLimits,
  stats: ZipReadStats,
): Promise<Map<string, Buffer>> {
  const zipfile = await openZip(bytes);
  try {
    if (zipfile.entryCount > limits.maxEntries) {
      throw new ReleaseError(
        'ZIP_TOO_MANY_ENTRIES',
        'zip',
        `${zipfile.entryCount} entries; the limit is ${limits.maxEntries}`,
      );
    }
    // yauzl starts its cursor at the central directory; entry data must end before it.
    const cursor = (zipfile as unknown as { readEntryCursor: unknown }).readEntryCursor;
    const centralDirectoryOffset = typeof cursor === 'number' ? cursor : bytes.length;
    const entries = await listEntries(zipfile, limits);
    checkLayout(bytes, entries, centralDirectoryOffset);
    checkEntrySet(entries);
    const contents = new Map<string, Buffer>();
    let totalBytes = 0;
    for (const { name, entry } of entries) {
      const kindLimit = name.endsWith('.yml') ? limits.maxYamlBytes : limits.maxIconBytes;
      const content = await readEntry(zipfile, name, entry, {
        kindLimit,
        kindCode: name.endsWith('.yml') ? 'YAML_TOO_LARGE' : 'ICON_TOO_LARGE',
        remainingTotal: limits.maxTotalBytes - totalBytes,
        maxRatio: limits.maxRatio,
        stats,
      });
      totalBytes += content.length;
      contents.set(name, content);
    }
    return contents;
  } finally {
    zipfile.close();
  }
}

function openZip(bytes: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(
      bytes,
      // decodeStrings off: names are decoded and judged here, not silently rewritten.
      { lazyEntries: true, validateEntrySizes: true, decodeStrings: false, autoClose: false },
      (err, zipfile) => (err ? reject(zipError(err, 'zip')) : resolve(zipfile)),
    );
  });
}

/** yauzl's error, as the refusal it means. */
function zipError(err: Error, where: string): ReleaseError {
  if (err instanceof ReleaseError) return err;
  const message = err.message;
  if (/encrypt/i.test(message)) return new ReleaseError('ZIP_ENCRYPTED', where, message);
  if (/too many bytes in the stream/.test(message)) {
    return new ReleaseError('ZIP_BOMB', where, `inflates past the size its header declares (${message})`);
  }
  return new ReleaseError('ZIP_MALFORMED', where, `malformed or truncated zip: ${message}`);
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const DOS_DIRECTORY = 0x10;
const FLAG_ENCRYPTED = 0x1;
const FLAG_STRONG_ENCRYPTION = 0x40;

/** Walks the central directory, checking each entry's metadata; reads no entry data. */
function listEntries(zipfile: yauzl.ZipFile, limits: ReleaseLimits): Promise<CheckedEntry[]> {
  return new Promise((resolve, reject) => {
    const entries: CheckedEntry[] = [];
    const names = new Set<string>();
    const folded = new Map<string, string>();
    let declaredTotal = 0;
    const fail = (err: Error) => {
      zipfile.removeAllListeners('entry');
      reject(zipError(err, 'zip'));
    };
    zipfile.on('error', fail);
    zipfile.on('end', () => resolve(entries));
    zipfile.on('entry', (entry: yauzl.Entry) => {
      try {
        if (entries.length + 1 > limits.maxEntries) {
          throw new ReleaseError('ZIP_TOO_MANY_ENTRIES', 'zip', `more than ${limits.maxEntries} entries`);
        }
        const name = decodeEntryName(
          entry.fileName as unknown as Buffer,
          entry.generalPurposeBitFlag,
          entry.extraFields.map((f) => f.id),
        );
        checkEntryName(name);
        const where = `zip entry ${quoteName(name)}`;
        checkEntryKind(entry, name, where);
        if (names.has(name)) throw new ReleaseError('ZIP_DUPLICATE_ENTRY', where, 'appears twice');
        const key = foldEntryName(name);
        const other = folded.get(key);
        if (other !== undefined) {
          throw new ReleaseError(
            'ZIP_NAME_COLLISION',
            where,
            `collides with ${quoteName(other)} after Unicode normalisation and case folding`,
          );
        }
        names.add(name);
        folded.set(key, name);
        declaredTotal += entry.uncompressedSize;
        checkDeclaredSizes(entry, where, declaredTotal, limits);
        entries.push({ name, entry });
        zipfile.readEntry();
      } catch (err) {
        fail(err as Error);
      }
    });
    zipfile.readEntry();
  });
}

function checkEntryKind(entry: yauzl.Entry, name: string, where: string): void {
  if ((entry.generalPurposeBitFlag & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) {
    throw new ReleaseError('ZIP_ENCRYPTED', where, 'is encrypted');
  }
  const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
  const type = mode & S_IFMT;
  if (type === S_IFLNK) throw new ReleaseError('ZIP_NOT_REGULAR_FILE', where, 'is a symbolic link');
  if (name.endsWith('/') || type === S_IFDIR || (entry.externalFileAttributes & DOS_DIRECTORY) !== 0) {
    throw new ReleaseError('ZIP_NOT_REGULAR_FILE', where, 'is a directory (the format is flat)');
  }
  if (type !== 0 && type !== S_IFREG) {
    throw new ReleaseError('ZIP_NOT_REGULAR_FILE', where, `is not a regular file (mode ${mode.toString(8)})`);
  }
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw new ReleaseError(
      'ZIP_UNSUPPORTED_COMPRESSION',
      where,
      `compression method ${entry.compressionMethod}; only stored (0) and deflate (8) are allowed`,
    );
  }
}

/** What the headers claim is checked before inflating; what inflating yields is counted again later. */
function checkDeclaredSizes(
  entry: yauzl.Entry,
  where: string,
  declaredTotal: number,
  limits: ReleaseLimits,
): void {
  if (declaredTotal > limits.maxTotalBytes) {
    throw new ReleaseError(
      'ZIP_BOMB',
      where,
      `entries declare ${declaredTotal} uncompressed bytes; the limit is ${limits.maxTotalBytes}`,
    );
  }
  if (
    entry.uncompressedSize > RATIO_CHECK_FLOOR_BYTES &&
    entry.uncompressedSize > entry.compressedSize * limits.maxRatio
  ) {
    throw new ReleaseError(
      'ZIP_BOMB',
      where,
      `declares a compression ratio over ${limits.maxRatio} (${entry.uncompressedSize}/${entry.compressedSize})`,
    );
  }
}

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_BYTES = 30;

/**
 * Each entry's local header and data must lie in their own byte range, before
 * the central directory, and name the same file: overlapping entries are the
 * classic non-recursive zip bomb (many entries, one compressed blob), and a
 * local name that differs from the central one shows different files to
 * different tools.
 */
function checkLayout(bytes: Buffer, entries: CheckedEntry[], centralDirectoryOffset: number): void {
  const ranges = entries.map(({ name, entry }) => {
    const where = `zip entry ${quoteName(name)}`;
    const start = entry.relativeOffsetOfLocalHeader;
    if (start + LOCAL_HEADER_BYTES > bytes.length || bytes.readUInt32LE(start) !== LOCAL_HEADER_SIGNATURE) {
      throw new ReleaseError('ZIP_MALFORMED', where, `no local header at offset ${start}`);
    }
    const nameLength = bytes.readUInt16LE(start + 26);
    const extraLength = bytes.readUInt16LE(start + 28);
    const end = start + LOCAL_HEADER_BYTES + nameLength + extraLength + entry.compressedSize;
    if (end > centralDirectoryOffset) {
      throw new ReleaseError('ZIP_OVERLAPPING_ENTRIES', where, 'data runs into the central directory');
    }
    return { name, entry, start, end, nameLength };
  });
  ranges.sort((a, b) => a.start - b.start);
  for (let i = 1; i < ranges.length; i++) {
    const previous = ranges[i - 1]!;
    const current = ranges[i]!;
    if (current.start < previous.end) {
      throw new ReleaseError(
        'ZIP_OVERLAPPING_ENTRIES',
        `zip entry ${quoteName(current.name)}`,
        `overlaps the data of ${quoteName(previous.name)}`,
      );
    }
  }
  for (const { name, entry, start, nameLength } of ranges) {
    const localName = bytes.subarray(start + LOCAL_HEADER_BYTES, start + LOCAL_HEADER_BYTES + nameLength);
    if (!localName.equals(entry.fileName as unknown as Buffer)) {
      throw new ReleaseError(
        'ZIP_MALFORMED',
        `zip entry ${quoteName(name)}`,
        'local header names a different file',
      );
    }
  }
}

/** Only the format's files, each required one present, at most one icon. */
function checkEntrySet(entries: CheckedEntry[]): void {
  for (const { name } of entries) {
    if (!isReleaseEntryName(name)) {
      throw new ReleaseError(
        'ZIP_UNEXPECTED_FILE',
        `zip entry ${quoteName(name)}`,
        `not part of a release (allowed: ${APP_YML}, ${COMPOSE_YML}, ${ICON_NAMES.join(' or ')})`,
      );
    }
  }
  const names = new Set(entries.map((e) => e.name));
  for (const required of [APP_YML, COMPOSE_YML]) {
    if (!names.has(required)) throw new ReleaseError('ZIP_MISSING_FILE', 'zip', `has no ${required}`);
  }
  if (ICON_NAMES.every((icon) => names.has(icon))) {
    throw new ReleaseError('ZIP_UNEXPECTED_FILE', 'zip', `has both ${ICON_NAMES.join(' and ')}`);
  }
}

interface EntryBudget {
  kindLimit: number;
  kindCode: string;
  remainingTotal: number;
  maxRatio: number;
  stats: ZipReadStats;
}

/** Inflates one entry into memory, counting every byte and stopping at the first limit passed. */
function readEntry(
  zipfile: yauzl.ZipFile,
  name: string,
  entry: yauzl.Entry,
  budget: EntryBudget,
): Promise<Buffer> {
  const where = `zip entry ${quoteName(name)}`;
  if (entry.uncompressedSize > budget.kindLimit) {
    return Promise.reject(
      new ReleaseError(
        budget.kindCode,
        where,
        `${entry.uncompressedSize} bytes; the limit is ${budget.kindLimit}`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    zipfile.openReadStream(entry, (err, stream) => {
      if (err) return reject(zipError(err, where));
      const chunks: Buffer[] = [];
      let length = 0;
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        stream.destroy();
        reject(zipError(error, where));
      };
      stream.on('data', (chunk: Buffer) => {
        if (settled) return;
        length += chunk.length;
        budget.stats.inflatedBytes += chunk.length;
        if (length > budget.remainingTotal) {
          return fail(new ReleaseError('ZIP_BOMB', where, 'inflates past the total size limit'));
        }
        if (length > RATIO_CHECK_FLOOR_BYTES && length > entry.compressedSize * budget.maxRatio) {
          return fail(new ReleaseError('ZIP_BOMB', where, `inflates past a ratio of ${budget.maxRatio}`));
        }
        if (length > budget.kindLimit) {
          return fail(new ReleaseError(budget.kindCode, where, `inflates past ${budget.kindLimit} bytes`));
        }
        chunks.push(chunk);
      });
      stream.on('error', fail);
      stream.on('end', () => {
        if (settled) return;
        settled = true;
        const content = Buffer.concat(chunks, length);
        // yauzl does not check CRCs; a corrupt entry is refused, not handed on.
        if (crc32(content) !== entry.crc32) {
          reject(new ReleaseError('ZIP_MALFORMED', where, 'CRC-32 does not match the content'));
          return;
        }
        resolve(content);
      });
    });
  });
}
