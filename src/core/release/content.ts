import { quoteName } from './paths.js';
import { ReleaseError } from './types.js';

/**
 * Checks on an entry's bytes once they are read: nested archives (by magic,
 * whatever the name says) and the icon. Pure: no I/O.
 */

const ARCHIVE_MAGIC: Array<{ kind: string; offset: number; bytes: Buffer }> = [
  { kind: 'zip', offset: 0, bytes: Buffer.from('PK\x03\x04', 'latin1') },
  { kind: 'zip (empty)', offset: 0, bytes: Buffer.from('PK\x05\x06', 'latin1') },
  { kind: 'zip (spanned)', offset: 0, bytes: Buffer.from('PK\x07\x08', 'latin1') },
  { kind: 'gzip', offset: 0, bytes: Buffer.from([0x1f, 0x8b]) },
  { kind: 'bzip2', offset: 0, bytes: Buffer.from('BZh', 'latin1') },
  { kind: 'xz', offset: 0, bytes: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { kind: 'zstd', offset: 0, bytes: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { kind: '7z', offset: 0, bytes: Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) },
  { kind: 'rar', offset: 0, bytes: Buffer.from('Rar!\x1a\x07', 'latin1') },
  { kind: 'tar', offset: 257, bytes: Buffer.from('ustar', 'latin1') },
];

/** The archive format `content` starts with, if any. */
export function archiveKind(content: Buffer): string | undefined {
  for (const magic of ARCHIVE_MAGIC) {
    const end = magic.offset + magic.bytes.length;
    if (content.length >= end && content.subarray(magic.offset, end).equals(magic.bytes)) return magic.kind;
  }
  return undefined;
}

export function checkNotArchive(name: string, content: Buffer): void {
  const kind = archiveKind(content);
  if (kind) {
    throw new ReleaseError('ZIP_NESTED_ARCHIVE', `zip entry ${quoteName(name)}`, `is a ${kind} archive`);
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 as zip uses it (Node 20 has no zlib.crc32). Entries are small, so a
 * table loop is enough; `previous` continues a running value.
 */
export function crc32(data: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * SVG constructs that run code or fetch something when the icon is shown:
 * scripts, event handlers, external references, entities (XXE and billion
 * laughs), embedded HTML. Matching text is strict on purpose: an icon that
 * needs any of these is refused, not sanitised.
 */
const SVG_FORBIDDEN: Array<{ pattern: RegExp; what: string }> = [
  { pattern: /<\s*script/i, what: 'a <script> element' },
  { pattern: /<!DOCTYPE|<!ENTITY/i, what: 'a DOCTYPE or entity declaration' },
  { pattern: /<\s*foreignObject/i, what: 'a <foreignObject> element' },
  { pattern: /\son[a-z]+\s*=/i, what: 'an event handler attribute' },
  { pattern: /javascript:|vbscript:|data:/i, what: 'a script or data URL' },
  { pattern: /href\s*=\s*(?!["']?\s*#)/i, what: 'an external reference (href not starting with #)' },
  { pattern: /url\s*\(\s*(?!["']?\s*#)/i, what: 'an external url() reference' },
  { pattern: /@import/i, what: 'a CSS @import' },
  { pattern: /<\?xml-stylesheet/i, what: 'an xml-stylesheet instruction' },
];

/** Refuses an icon that is not what its name says, or an SVG that could run or fetch anything. */
export function checkIcon(name: string, content: Buffer): void {
  const where = `zip entry ${quoteName(name)}`;
  if (name.endsWith('.png')) {
    if (
      content.length < 24 ||
      !content.subarray(0, 8).equals(PNG_SIGNATURE) ||
      content.toString('latin1', 12, 16) !== 'IHDR'
    ) {
      throw new ReleaseError('ICON_INVALID', where, 'is not a PNG image (bad signature or header)');
    }
    return;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    throw new ReleaseError('ICON_INVALID', where, 'SVG is not valid UTF-8');
  }
  const start = text.replace(/^\s*(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*/, '');
  if (!/^<svg[\s>]/.test(start)) {
    throw new ReleaseError('ICON_INVALID', where, 'SVG does not start with an <svg> element');
  }
  for (const { pattern, what } of SVG_FORBIDDEN) {
    if (pattern.test(text)) throw new ReleaseError('ICON_INVALID', where, `SVG has ${what}`);
  }
}
