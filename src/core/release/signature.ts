import { createHash, type KeyObject, sign, timingSafeEqual, verify } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeCanonicalBase64, keyId, publicKeyFromRaw, rawPublicKey, readSmallFile } from './keys.js';
import { type AppManifest, ReleaseError, type ReleaseSignature, signedMessage } from './types.js';

/*
 * Detached release signatures (`<zip>.sig`): Ed25519 over signedMessage(app
 * id, version, SHA-256 of the zip). The file carries the signer's public key
 * so that it can be checked alone, but only a pinned key (the one the store
 * bound the app id to) says who signed: verify with `publicKey` wherever the
 * maintainer is known.
 */

export const SIGNATURE_FORMAT = 'warren-release-signature/v1';
/** A signature file is ~300 bytes; anything larger is refused before parsing. */
export const MAX_SIGNATURE_FILE = 4 * 1024;
const FIELDS = ['format', 'app_id', 'version', 'sha256', 'public_key', 'signature'] as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** As app.yml's id (types.ts). */
const APP_ID = /^[a-z][a-z0-9-]{1,62}$/;
const MAX_VERSION = 256;

/** SHA-256 (hex) and size of a file, streamed: memory does not grow with the file. */
export async function sha256OfFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Signs a release whose zip digest is already known (e.g. the one the validator computed). */
export function signReleaseDigest(
  sha256: string,
  privateKey: KeyObject,
  manifest: Pick<AppManifest, 'id' | 'version'>,
): ReleaseSignature {
  if (!SHA256_HEX.test(sha256)) {
    throw new ReleaseError('SIGNATURE_MALFORMED', 'sha256', 'not 64 lowercase hex digits');
  }
  const signature = sign(null, signedMessage(manifest.id, manifest.version, sha256), privateKey);
  return {
    format: SIGNATURE_FORMAT,
    app_id: manifest.id,
    version: manifest.version,
    sha256,
    public_key: rawPublicKey(privateKey).toString('base64'),
    signature: signature.toString('base64'),
  };
}

/** Signs the zip at `zipPath` (hashed as a stream) as release `manifest.id` `manifest.version`. */
export async function signRelease(
  zipPath: string,
  privateKey: KeyObject,
  manifest: Pick<AppManifest, 'id' | 'version'>,
): Promise<ReleaseSignature> {
  const { sha256 } = await sha256OfFile(zipPath);
  return signReleaseDigest(sha256, privateKey, manifest);
}

/** The signature file's text: JSON, one field a line, a final line end. */
export function formatSignature(sig: ReleaseSignature): string {
  const ordered = Object.fromEntries(FIELDS.map((field) => [field, sig[field]]));
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** Writes `path` atomically (a temporary file beside it, then rename): readers see the old or the new file. */
export async function writeSignature(path: string, sig: ReleaseSignature): Promise<void> {
  const text = formatSignature(sig);
  parseSignature(text, path); // never write what readSignature would refuse
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    await file.writeFile(text);
    await file.sync();
  } catch (err) {
    await file.close();
    await unlink(temp).catch(() => {});
    throw err;
  }
  await file.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
}

/** Reads a signature file: missing → SIGNATURE_MISSING; over 4 KiB or not exactly the format → SIGNATURE_MALFORMED. */
export async function readSignature(path: string): Promise<ReleaseSignature> {
  const text = await readSmallFile(path, MAX_SIGNATURE_FILE, 'signature', undefined, (kind, message) =>
    kind === 'missing'
      ? new ReleaseError('SIGNATURE_MISSING', path, `${message}: the release is not signed`)
      : new ReleaseError('SIGNATURE_MALFORMED', path, message),
  );
  return parseSignature(text, path);
}

/**
 * Strict parse of a signature file's text: a JSON object with exactly the
 * format's fields, each of its exact shape (the app id as app.yml's, the digest
 * lowercase hex, the key and signature canonical base64 of 32 and 64 bytes).
 */
export function parseSignature(text: string, where: string): ReleaseSignature {
  const malformed = (key: string, message: string) =>
    new ReleaseError('SIGNATURE_MALFORMED', key ? `${where}: ${key}` : where, message);
  if (text.length > MAX_SIGNATURE_FILE) throw malformed('', `larger than ${MAX_SIGNATURE_FILE} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed('', 'not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed('', 'not a JSON object');
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw malformed(key, 'unknown field');
  }
  for (const key of FIELDS) {
    if (typeof record[key] !== 'string') throw malformed(key, 'missing or not a string');
  }
  const sig = record as unknown as ReleaseSignature;
  if (sig.format !== SIGNATURE_FORMAT) {
    throw malformed('format', `'${String(record.format).slice(0, 64)}' is not '${SIGNATURE_FORMAT}'`);
  }
  if (!APP_ID.test(sig.app_id)) throw malformed('app_id', 'not an app id (^[a-z][a-z0-9-]{1,62}$)');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (sig.version === '' || sig.version.length > MAX_VERSION || /[\u0000-\u0020\u007f]/.test(sig.version)) {
    throw malformed('version', 'empty, too long or not printable');
  }
  if (!SHA256_HEX.test(sig.sha256)) throw malformed('sha256', 'not 64 lowercase hex digits');
  if (!decodeCanonicalBase64(sig.public_key, 32)) throw malformed('public_key', 'not base64 of 32 bytes');
  if (!decodeCanonicalBase64(sig.signature, 64)) throw malformed('signature', 'not base64 of 64 bytes');
  return {
    format: SIGNATURE_FORMAT,
    app_id: sig.app_id,
    version: sig.version,
    sha256: sig.sha256,
    public_key: sig.public_key,
    signature: sig.signature,
  };
}

/** What a release must be for its signature to count. */
export interface ExpectedRelease {
  /** SHA-256 (hex) of the zip as received. */
  sha256: string;
  /** app.yml's id and version. */
  appId: string;
  version: string;
  /** The maintainer key the app id is bound to (raw 32 bytes); without it any valid signer passes. */
  publicKey?: Uint8Array;
}

export interface VerifiedSignature {
  /** The signer's raw public key and its id. */
  publicKey: Buffer;
  keyId: string;
  /** True when the signer was checked against a pinned key. */
  pinned: boolean;
}

/**
 * Checks a parsed signature against a release. In order: the signature must
 * verify under its own key (SIGNATURE_INVALID), that key must be the pinned
 * one (SIGNATURE_WRONG_KEY), it must name this app and version
 * (SIGNATURE_OTHER_APP) and these bytes (SIGNATURE_OTHER_BYTES).
 */
export function verifyReleaseSignature(sig: ReleaseSignature, expected: ExpectedRelease): VerifiedSignature {
  const checked = parseSignature(JSON.stringify(sig), 'signature'); // also for objects not from readSignature
  const signer = decodeCanonicalBase64(checked.public_key, 32)!;
  const signerId = keyId(signer);
  let valid = false;
  try {
    valid = verify(
      null,
      signedMessage(checked.app_id, checked.version, checked.sha256),
      publicKeyFromRaw(signer),
      decodeCanonicalBase64(checked.signature, 64)!,
    );
  } catch {
    valid = false; // a public key that is not a curve point
  }
  if (!valid) {
    throw new ReleaseError(
      'SIGNATURE_INVALID',
      'signature',
      `does not verify under the key it names (${signerId}): forged or corrupted`,
    );
  }
  if (expected.publicKey !== undefined) {
    const pinned = Buffer.from(expected.publicKey);
    if (pinned.length !== 32 || !timingSafeEqual(pinned, signer)) {
      throw new ReleaseError(
        'SIGNATURE_WRONG_KEY',
        'signature',
        `signed by key ${signerId}, but app '${expected.appId}' is bound to maintainer key ${keyId(pinned)}`,
      );
    }
  }
  if (checked.app_id !== expected.appId || checked.version !== expected.version) {
    throw new ReleaseError(
      'SIGNATURE_OTHER_APP',
      'signature: app_id/version',
      `signs ${checked.app_id} ${checked.version}, but the release's app.yml is ${expected.appId} ${expected.version}`,
    );
  }
  if (!sameDigest(checked.sha256, expected.sha256)) {
    throw new ReleaseError(
      'SIGNATURE_OTHER_BYTES',
      'signature: sha256',
      `signs a zip with SHA-256 ${checked.sha256}, but this zip's is ${expected.sha256}: it changed after signing`,
    );
  }
  return { publicKey: signer, keyId: signerId, pinned: expected.publicKey !== undefined };
}

/** Constant-time comparison of two hex digests (of the same length by construction). */
function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a.toLowerCase(), 'utf8');
  const right = Buffer.from(b.toLowerCase(), 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
