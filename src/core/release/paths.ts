import { ReleaseError } from './types.js';

/**
 * Entry names of a release zip: decoding, the checks that stop zip-slip and
 * name tricks, and the folding that finds names which would collide on a
 * case-insensitive or normalising file system. Pure: no I/O.
 */

export const APP_YML = 'app.yml';
export const COMPOSE_YML = 'docker-compose.yml';
export const ICON_NAMES = ['icon.png', 'icon.svg'] as const;
/** Every name the format allows; the format is flat (no folders). */
export const RELEASE_ENTRY_NAMES: readonly string[] = [APP_YML, COMPOSE_YML, ...ICON_NAMES];

const UTF8_FLAG = 0x800;
/** Info-ZIP Unicode Path extra field: a second name some extractors prefer to the header's. */
const UNICODE_PATH_EXTRA_FIELD = 0x7075;

/**
 * The entry's name from its raw central-directory bytes. UTF-8 only when the
 * entry says so (bit 11), else plain ASCII: CP437 or a second name in an
 * extra field would let two tools read two different names from one entry.
 */
export function decodeEntryName(raw: Buffer, generalPurposeBitFlag: number, extraFieldIds: number[]): string {
  const where = `zip entry ${JSON.stringify(raw.toString('latin1').slice(0, 80))}`;
  if (extraFieldIds.includes(UNICODE_PATH_EXTRA_FIELD)) {
    throw new ReleaseError('ZIP_BAD_NAME', where, 'has a second (Unicode Path) name in an extra field');
  }
  if ((generalPurposeBitFlag & UTF8_FLAG) !== 0) {
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
    } catch {
      throw new ReleaseError('ZIP_BAD_NAME', where, 'name is flagged UTF-8 but is not valid UTF-8');
    }
  }
  for (const byte of raw) {
    if (byte >= 0x80) {
      throw new ReleaseError('ZIP_BAD_NAME', where, 'name has non-ASCII bytes without the UTF-8 flag');
    }
  }
  return raw.toString('latin1');
}

/** JSON-quoted and cut short, so a hostile name cannot flood or forge a message. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
}

/**
 * Refuses names that could land outside an extraction folder on any OS, or
 * that mean different things to different tools: absolute paths, drive
 * letters, backslashes, `..`, control characters (NUL included).
 */
export function checkEntryName(name: string): void {
  const where = `zip entry ${quoteName(name)}`;
  if (name.length === 0) throw new ReleaseError('ZIP_BAD_NAME', where, 'empty name');
  if (hasControlCharacter(name)) {
    throw new ReleaseError('ZIP_BAD_NAME', where, 'name has a NUL or control character');
  }
  if (name.includes('\\')) throw new ReleaseError('ZIP_SLIP', where, 'name has a backslash');
  if (name.startsWith('/')) throw new ReleaseError('ZIP_SLIP', where, 'absolute path');
  if (/^[A-Za-z]:/.test(name)) throw new ReleaseError('ZIP_SLIP', where, 'name starts with a drive letter');
  const segments = name.split('/');
  if (segments.some((s) => s === '..')) throw new ReleaseError('ZIP_SLIP', where, 'name has a `..` segment');
  // Names that only turn into a separator, a drive letter or `..` once a
  // tool normalises them (fullwidth solidus, one-dot leaders…).
  const normalised = name.normalize('NFKC');
  if (normalised !== name) {
    const separators = (text: string) => text.split('/').length;
    if (
      separators(normalised) !== separators(name) ||
      normalised.includes('\\') ||
      /^[A-Za-z]:/.test(normalised) ||
      normalised.split('/').some((s) => s === '..' || s === '.')
    ) {
      throw new ReleaseError('ZIP_SLIP', where, 'name becomes a path separator or `..` after normalisation');
    }
  }
}

/** C0 and C1 controls (NUL included), DEL, and the Unicode line and paragraph separators. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/**
 * The key two names collide under: Unicode compatibility normalisation plus
 * case folding, as case-insensitive and normalising file systems (macOS,
 * Windows) would see them.
 */
export function foldEntryName(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

export function isReleaseEntryName(name: string): boolean {
  return RELEASE_ENTRY_NAMES.includes(name);
}
