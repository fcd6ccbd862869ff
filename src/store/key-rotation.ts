import { type KeyObject, sign, verify } from 'node:crypto';
import { WarrenError } from '../core/errors.js';
import { decodeCanonicalBase64, keyId, publicKeyFromRaw, rawPublicKey } from '../core/release/keys.js';
import { signedMessage } from '../core/release/types.js';

/*
 * A maintainer key rotation (pure: no I/O). The statement names the
 * maintainer, the old and the new key and when it was made, and is signed by
 * the old key (the only thing that may hand an app id to another key) and by
 * the new one (proof that the maintainer holds it). It also carries a
 * signature by the new key of every release bound to the old key, so that
 * after the rotation every version in the index verifies under the key the
 * index names for its app.
 */

export const ROTATION_FORMAT = 'warren-key-rotation/v1';
/** A statement is accepted this long after it was made (and 5 minutes of clock skew ahead). */
export const ROTATION_MAX_AGE_MS = 60 * 60_000;
const SKEW_MS = 5 * 60_000;
/** Releases one statement may re-sign (bounds the request). */
export const ROTATION_MAX_RELEASES = 2_000;

export interface ReleaseRef {
  app_id: string;
  version: string;
  sha256: string;
}

export interface RotationStatement {
  format: typeof ROTATION_FORMAT;
  maintainer: string;
  old_key: string;
  new_key: string;
  issued_at: string;
  old_signature: string;
  new_signature: string;
  /** Each release bound to the old key, signed again by the new key. */
  releases: Array<ReleaseRef & { signature: string }>;
}

function message(s: Pick<RotationStatement, 'maintainer' | 'old_key' | 'new_key' | 'issued_at'>): Buffer {
  return Buffer.from(
    `${ROTATION_FORMAT}\n${s.maintainer}\n${s.old_key}\n${s.new_key}\n${s.issued_at}\n`,
    'utf8',
  );
}

/** Makes a statement (the CLI's side): `releases` are the maintainer's, as the store lists them. */
export function makeRotationStatement(
  maintainer: string,
  oldKey: KeyObject,
  newKey: KeyObject,
  releases: ReleaseRef[],
  now = new Date(),
): RotationStatement {
  const body = {
    maintainer,
    old_key: rawPublicKey(oldKey).toString('base64'),
    new_key: rawPublicKey(newKey).toString('base64'),
    issued_at: now.toISOString(),
  };
  if (body.old_key === body.new_key) {
    throw new WarrenError('KEY_UNCHANGED', 'the new key is the old key', 400);
  }
  return {
    format: ROTATION_FORMAT,
    ...body,
    old_signature: sign(null, message(body), oldKey).toString('base64'),
    new_signature: sign(null, message(body), newKey).toString('base64'),
    releases: releases.map((r) => ({
      ...r,
      signature: sign(null, signedMessage(r.app_id, r.version, r.sha256), newKey).toString('base64'),
    })),
  };
}

/**
 * Checks a statement for `maintainer` whose current key is `currentKey`
 * (raw): both signatures, freshness, and that it re-signs exactly `releases`.
 * Returns the new key (raw).
 */
export function verifyRotationStatement(
  s: RotationStatement,
  expected: { maintainer: string; currentKey: Buffer; releases: ReleaseRef[]; now?: number },
): Buffer {
  const bad = (code: string, why: string) => new WarrenError(code, `key rotation: ${why}`, 403);
  if (s.format !== ROTATION_FORMAT) throw bad('ROTATION_MALFORMED', `format is not ${ROTATION_FORMAT}`);
  if (s.maintainer !== expected.maintainer) {
    throw bad(
      'ROTATION_OTHER_MAINTAINER',
      `the statement is for '${s.maintainer}', not '${expected.maintainer}'`,
    );
  }
  const oldKey = decodeCanonicalBase64(s.old_key, 32);
  const newKey = decodeCanonicalBase64(s.new_key, 32);
  if (!oldKey || !newKey) throw bad('ROTATION_MALFORMED', 'a key is not base64 of 32 bytes');
  if (!oldKey.equals(expected.currentKey)) {
    throw bad(
      'ROTATION_WRONG_KEY',
      `the statement rotates key ${keyId(oldKey)}, but the current key is ${keyId(expected.currentKey)}`,
    );
  }
  if (oldKey.equals(newKey)) throw bad('ROTATION_MALFORMED', 'the new key is the old key');
  const issued = Date.parse(s.issued_at);
  const now = expected.now ?? Date.now();
  if (!Number.isFinite(issued) || issued > now + SKEW_MS || now - issued > ROTATION_MAX_AGE_MS) {
    throw bad('ROTATION_STALE', `issued_at ${s.issued_at} is not within the last hour`);
  }
  if (!checkSignature(message(s), s.old_signature, oldKey)) {
    throw bad('ROTATION_SIGNATURE_INVALID', `not signed by the old key ${keyId(oldKey)}`);
  }
  if (!checkSignature(message(s), s.new_signature, newKey)) {
    throw bad('ROTATION_SIGNATURE_INVALID', `not signed by the new key ${keyId(newKey)}`);
  }
  const wanted = new Map(expected.releases.map((r) => [`${r.app_id}@${r.version}`, r.sha256]));
  const seen = new Set<string>();
  for (const r of s.releases) {
    const name = `${r.app_id}@${r.version}`;
    if (wanted.get(name) !== r.sha256 || seen.has(name)) {
      throw bad(
        'ROTATION_RELEASES_MISMATCH',
        `${r.app_id} ${r.version} is not one of your releases as listed`,
      );
    }
    seen.add(name);
    if (!checkSignature(signedMessage(r.app_id, r.version, r.sha256), r.signature, newKey)) {
      throw bad(
        'ROTATION_SIGNATURE_INVALID',
        `the new signature of ${r.app_id} ${r.version} does not verify`,
      );
    }
  }
  if (seen.size !== wanted.size) {
    throw bad(
      'ROTATION_RELEASES_MISMATCH',
      `re-signs ${seen.size} of your ${wanted.size} releases: list them again and make a new statement`,
    );
  }
  return newKey;
}

function checkSignature(data: Buffer, signature: string, key: Buffer): boolean {
  const raw = decodeCanonicalBase64(signature, 64);
  if (!raw) return false;
  try {
    return verify(null, data, publicKeyFromRaw(key), raw);
  } catch {
    return false;
  }
}
