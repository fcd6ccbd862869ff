import { sha256Hex } from './digest.js';
import { WarrenError } from './errors.js';

export const MIB = 1024 * 1024;
/** Files up to this size are fetched straight from the origin, not through P2P. */
export const DIRECT_SOURCE_MAX = 4 * MIB;
export const MIN_PIECE_LENGTH = 4 * MIB;
export const MAX_PIECE_LENGTH = 64 * MIB;

/**
 * Piece length rule from Dragonfly: aim for about 500 pieces, in powers of
 * two, clamped to [4 MiB, 64 MiB]: clamp(nextPow2(size / 500), 4 MiB, 64 MiB).
 */
export function pieceLengthFor(contentLength: number): number {
  const target = contentLength / 500;
  let length = MIN_PIECE_LENGTH;
  while (length < target && length < MAX_PIECE_LENGTH) length *= 2;
  return length;
}

export function pieceCount(contentLength: number, pieceLength: number): number {
  return contentLength === 0 ? 0 : Math.ceil(contentLength / pieceLength);
}

/** Byte range [start, end) of piece `n`. */
export function pieceRange(
  n: number,
  contentLength: number,
  pieceLength: number,
): { start: number; end: number } {
  const start = n * pieceLength;
  return { start, end: Math.min(start + pieceLength, contentLength) };
}

/**
 * Query parameters that carry signatures or expiry (pre-signed S3/GCS/Azure
 * URLs) change per request while the content does not; Dragonfly filters
 * these before hashing the URL into a task ID.
 */
export const DEFAULT_FILTERED_QUERY = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
  'Expires',
  'Signature',
  'OSSAccessKeyId',
  'Policy',
  'X-Goog-Algorithm',
  'X-Goog-Credential',
  'X-Goog-Date',
  'X-Goog-Expires',
  'X-Goog-SignedHeaders',
  'X-Goog-Signature',
  'sig',
  'se',
  'sp',
  'sv',
  'st',
];

export interface TaskIdInput {
  url: string;
  tag?: string;
  application?: string;
  /** Extra query parameter names to drop before hashing; case-sensitive. */
  filterQuery?: string[];
  /** Only when the caller forces a piece length. */
  pieceLength?: number;
}

/** The URL with filtered query parameters removed and the rest in a stable order. */
export function normalizeUrl(url: string, filterQuery: string[] = []): string {
  const parsed = new URL(url);
  const drop = new Set([...DEFAULT_FILTERED_QUERY, ...filterQuery]);
  const kept = [...parsed.searchParams.entries()].filter(([name]) => !drop.has(name));
  kept.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  parsed.search = new URLSearchParams(kept).toString();
  parsed.hash = '';
  return parsed.toString();
}

/** Task ID: SHA-256 over the filtered URL, tag, application and forced piece length. */
export function taskIdFor(input: TaskIdInput): string {
  const parts = [
    normalizeUrl(input.url, input.filterQuery),
    input.tag ?? '',
    input.application ?? '',
    input.pieceLength ? String(input.pieceLength) : '',
  ];
  return sha256Hex(parts.join('\n'));
}

export function isTaskId(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}

/**
 * Task ID of content-addressed content (an OCI blob, anything named by its
 * digest): the SHA-256 itself, so the same bytes are one task whatever URL,
 * registry name or tag points at them. `digest` is 'sha256:<64 hex>'.
 */
export function taskIdForDigest(digest: string): string {
  const match = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!match) {
    throw new WarrenError(
      'BAD_DIGEST_FORMAT',
      `digest '${digest}' is not of the form sha256:<64 lowercase hex>`,
      400,
    );
  }
  return match[1]!;
}

/**
 * The task ID a request names: the digest's hex when a digest is given,
 * otherwise the hash of URL, tag, application and filtered query.
 */
export function taskIdOf(input: TaskIdInput & { digest?: string }): string {
  return input.digest ? taskIdForDigest(input.digest) : taskIdFor(input);
}
