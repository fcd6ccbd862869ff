import { WarrenError } from '../errors.js';

/**
 * The `docker load` archive (the format `docker save` writes), built as a
 * stream: a tar of `manifest.json`, the image config and each layer blob as
 * it is, compressed (Docker Engine decompresses layers while loading:
 * moby's image/tarexport load runs every layer through
 * archive.DecompressStream). Tar headers need each entry's size before its
 * bytes, and the sizes are in the manifest's descriptors, so nothing is held
 * in memory but one chunk at a time.
 */

const BLOCK = 512;
/** Largest size the 11 octal digits of a ustar header hold (8 GiB - 1). */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

/** One entry of the archive: a name, its exact size and its bytes. */
export interface ArchiveEntry {
  name: string;
  size: number;
  body: AsyncIterable<Uint8Array> | Uint8Array;
}

/** The manifest.json entry for one image (Docker's tarexport manifestItem). */
export interface ArchiveManifest {
  /** The config blob's entry name. */
  config: string;
  /** Tags to give the image once loaded, e.g. 'registry.example.com:5000/app:1.0'. */
  repoTags: string[];
  /** The layers' entry names, base first. */
  layers: string[];
}

/** Entry names for an image's config and layers, by digest. */
export function configEntryName(digest: string): string {
  return `${hexOf(digest)}.json`;
}
export function layerEntryName(digest: string): string {
  return `blobs/sha256/${hexOf(digest)}`;
}

function hexOf(digest: string): string {
  const match = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!match) throw new WarrenError('BAD_DIGEST_FORMAT', `digest '${digest}' is not sha256:<64 hex>`, 400);
  return match[1]!;
}

export function manifestJson(manifest: ArchiveManifest): Uint8Array {
  return Buffer.from(
    JSON.stringify([{ Config: manifest.config, RepoTags: manifest.repoTags, Layers: manifest.layers }]),
  );
}

/**
 * A ustar header for a regular file (mode 0644, owner 0, time 0: the archive
 * is the same bytes whenever it is built). Sizes past 8 GiB use the base-256
 * form that GNU tar and Go's archive/tar read.
 */
export function tarHeader(name: string, size: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100)
    throw new WarrenError('TAR_NAME_TOO_LONG', `tar entry name '${name}' over 100 bytes`, 500);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new WarrenError('TAR_BAD_SIZE', `tar entry size ${size}`, 500);
  const header = Buffer.alloc(BLOCK);
  nameBytes.copy(header, 0);
  octal(header, 100, 8, 0o644);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  if (size <= MAX_OCTAL_SIZE) octal(header, 124, 12, size);
  else {
    header[124] = 0x80;
    let rest = BigInt(size);
    for (let i = 135; i > 124; i--) {
      header[i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
  }
  octal(header, 136, 12, 0);
  header.fill(0x20, 148, 156); // checksum counted as spaces
  header[156] = 0x30; // '0': a regular file
  header.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return header;
}

function octal(header: Buffer, offset: number, length: number, value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, 'latin1');
}

/** Zero bytes that complete an entry of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/**
 * The tar stream of `entries`, in order, ending with the two zero blocks.
 * An entry whose body is not exactly its announced size is an error (the
 * archive would be corrupt from there on).
 */
export async function* tarStream(entries: Iterable<ArchiveEntry> | AsyncIterable<ArchiveEntry>) {
  for await (const entry of entries) {
    yield tarHeader(entry.name, entry.size);
    let written = 0;
    const body = entry.body instanceof Uint8Array ? [entry.body] : entry.body;
    for await (const chunk of body) {
      written += chunk.length;
      if (written > entry.size) break;
      yield chunk;
    }
    if (written !== entry.size) {
      throw new WarrenError(
        'ARCHIVE_SIZE_MISMATCH',
        `${entry.name}: ${written > entry.size ? 'more' : 'fewer'} bytes than the ${entry.size} its descriptor names`,
        502,
      );
    }
    const padding = tarPadding(entry.size);
    if (padding.length > 0) yield padding;
  }
  yield Buffer.alloc(2 * BLOCK);
}
