import { createHash } from 'node:crypto';
import { WarrenError } from './errors.js';

/** SHA-256 is the only digest Warren trusts: CRC-32 (Dragonfly's) stops accidents, not attackers. */
export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array | string): string {
  return sha256(data).toString('hex');
}

/** Parses 'sha256:<64 hex>' into the raw 32 bytes; anything else is a clear error. */
export function parseDigest(value: string): Buffer {
  const match = /^sha256:([0-9a-fA-F]{64})$/.exec(value.trim());
  if (!match) {
    throw new WarrenError(
      'BAD_DIGEST_FORMAT',
      `digest '${value}' is not of the form sha256:<64 hex digits>`,
      400,
    );
  }
  return Buffer.from(match[1]!.toLowerCase(), 'hex');
}

export function formatDigest(raw: Uint8Array): string {
  return `sha256:${Buffer.from(raw).toString('hex')}`;
}
