import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/*
 * TOTP, RFC 6238: HOTP (RFC 4226) over the time step T = floor(unix / 30),
 * HMAC-SHA-1, 6 digits, as every authenticator app does by default. A code is
 * accepted for the step before, the current one and the one after (clock
 * drift), and only for a step newer than the last one accepted for the user,
 * so a code seen over a shoulder or in a log cannot be replayed.
 */

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps accepted on either side of the current one. */
export const TOTP_WINDOW = 1;
/** RFC 4226 §4 asks for at least 128 bits; 160 is what SHA-1 keys are. */
const SECRET_BYTES = 20;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, unpadded (what otpauth:// URLs carry). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 (case, spaces and padding ignored); throws on any other character. */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error(`'${ch}' is not a base32 character`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** A new TOTP secret: 20 random bytes, base32. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(SECRET_BYTES));
}

/** The time step of `nowMs`. */
export function totpStep(nowMs: number, periodSeconds = TOTP_PERIOD_SECONDS): number {
  return Math.floor(nowMs / 1000 / periodSeconds);
}

/** HOTP (RFC 4226 §5.3): the code of counter `step` for `key`. */
export function hotp(key: Uint8Array, step: number, digits = TOTP_DIGITS): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The code a user's app shows at `nowMs` for the base32 `secret`. */
export function totpCode(secret: string, nowMs: number, digits = TOTP_DIGITS): string {
  return hotp(base32Decode(secret), totpStep(nowMs), digits);
}

/**
 * The step `code` is valid for at `nowMs` (within ±{@link TOTP_WINDOW} steps)
 * that is newer than `lastStep`, or undefined: wrong, too old, or replayed.
 * The caller stores the returned step as the new `lastStep`.
 */
export function verifyTotp(
  secret: string,
  code: string,
  nowMs: number,
  lastStep: number,
): number | undefined {
  if (!/^[0-9]{6}$/.test(code)) return undefined;
  let key: Buffer;
  try {
    key = base32Decode(secret);
  } catch {
    return undefined;
  }
  const current = totpStep(nowMs);
  const given = Buffer.from(code);
  let matched: number | undefined;
  // Every candidate is computed and compared, so the time taken says nothing about which matched.
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    const same = timingSafeEqual(Buffer.from(hotp(key, step)), given);
    if (same && step > lastStep && matched === undefined) matched = step;
  }
  return matched;
}

/** The otpauth:// URL an authenticator app reads from a QR code (Key Uri Format). */
export function otpauthUrl(secret: string, issuer: string, account: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({
    secret,
    issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}
