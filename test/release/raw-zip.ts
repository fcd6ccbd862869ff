import { deflateRawSync } from 'node:zlib';
import { crc32 } from '../../src/core/release/content.js';

/**
 * A zip writer that writes exactly what it is told, lies included: declared
 * sizes, flags, attributes, names that differ between the local and central
 * headers, and central-directory entries that point at another entry's
 * local header (the overlapping-entry bomb). yazl refuses to write such
 * things, which is why the malicious corpus needs this.
 */

export interface RawLocalEntry {
  name: string | Buffer;
  /** The bytes after the local header, already compressed as `method` says. */
  data: Buffer;
  /** 0 stored, 8 deflate. */
  method?: number;
  crc32?: number;
  /** Declared sizes; default: the true ones. */
  uncompressedSize?: number;
  compressedSize?: number;
  /** General purpose bit flag; 0x800 (UTF-8 names) is added for non-ASCII string names. */
  flags?: number;
  extra?: Buffer;
}

export interface RawCentralEntry extends Partial<RawLocalEntry> {
  /** Index of the local entry whose header this central entry points at. */
  local: number;
  externalAttributes?: number;
  versionMadeBy?: number;
}

const UNIX_REGULAR_0644 = (0o100644 << 16) >>> 0;
const MADE_BY_UNIX = (3 << 8) | 20;

export function rawZip(locals: RawLocalEntry[], central?: RawCentralEntry[]): Buffer {
  const parts: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const entry of locals) {
    offsets.push(offset);
    const header = localHeader(entry);
    parts.push(header, entry.data);
    offset += header.length + entry.data.length;
  }
  const centralStart = offset;
  const centralEntries = central ?? locals.map((_, i) => ({ local: i }));
  for (const c of centralEntries) {
    const merged = { ...locals[c.local]!, ...c };
    const header = centralHeader(merged, offsets[c.local]!, c);
    parts.push(header);
    offset += header.length;
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(centralEntries.length, 8);
  eocd.writeUInt16LE(centralEntries.length, 10);
  eocd.writeUInt32LE(offset - centralStart, 12);
  eocd.writeUInt32LE(centralStart, 16);
  parts.push(eocd);
  return Buffer.concat(parts);
}

function nameBytes(entry: RawLocalEntry): { name: Buffer; utf8: boolean } {
  if (Buffer.isBuffer(entry.name)) return { name: entry.name, utf8: false };
  return { name: Buffer.from(entry.name, 'utf8'), utf8: Buffer.byteLength(entry.name) !== entry.name.length };
}

function fields(entry: RawLocalEntry) {
  const { name, utf8 } = nameBytes(entry);
  return {
    name,
    flags: (entry.flags ?? 0) | (utf8 ? 0x800 : 0),
    method: entry.method ?? 0,
    crc: entry.crc32 ?? 0,
    compressedSize: entry.compressedSize ?? entry.data.length,
    uncompressedSize: entry.uncompressedSize ?? entry.data.length,
    extra: entry.extra ?? Buffer.alloc(0),
  };
}

function localHeader(entry: RawLocalEntry): Buffer {
  const f = fields(entry);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt16LE(f.flags, 6);
  header.writeUInt16LE(f.method, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt16LE(0x21, 12); // 1980-01-01
  header.writeUInt32LE(f.crc >>> 0, 14);
  header.writeUInt32LE(f.compressedSize, 18);
  header.writeUInt32LE(f.uncompressedSize, 22);
  header.writeUInt16LE(f.name.length, 26);
  header.writeUInt16LE(f.extra.length, 28);
  return Buffer.concat([header, f.name, f.extra]);
}

function centralHeader(entry: RawLocalEntry, localOffset: number, c: RawCentralEntry): Buffer {
  const f = fields(entry);
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(c.versionMadeBy ?? MADE_BY_UNIX, 4);
  header.writeUInt16LE(20, 6);
  header.writeUInt16LE(f.flags, 8);
  header.writeUInt16LE(f.method, 10);
  header.writeUInt16LE(0, 12);
  header.writeUInt16LE(0x21, 14);
  header.writeUInt32LE(f.crc >>> 0, 16);
  header.writeUInt32LE(f.compressedSize, 20);
  header.writeUInt32LE(f.uncompressedSize, 24);
  header.writeUInt16LE(f.name.length, 28);
  header.writeUInt16LE(f.extra.length, 30);
  header.writeUInt16LE(0, 32);
  header.writeUInt32LE(c.externalAttributes ?? UNIX_REGULAR_0644, 38);
  header.writeUInt32LE(localOffset, 42);
  return Buffer.concat([header, f.name, f.extra]);
}

/** An honest deflated entry. */
export function deflated(name: string | Buffer, content: Buffer | string): RawLocalEntry {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return {
    name,
    data: deflateRawSync(bytes),
    method: 8,
    crc32: crc32(bytes),
    uncompressedSize: bytes.length,
  };
}

/** An honest stored entry. */
export function stored(name: string | Buffer, content: Buffer | string): RawLocalEntry {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return { name, data: bytes, method: 0, crc32: crc32(bytes) };
}

export { crc32 };
