import { createHash, type KeyObject, sign, timingSafeEqual, verify } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { decodeCanonicalBase64, keyId, publicKeyFromRaw, rawPublicKey } from './keys.js';
import { APP_ID_PATTERN } from './manifest.js';
import { isSemver } from './semver.js';
import { ReleaseError } from './types.js';

/**
 * The store's signed index (issue 5): every app's versions with their zip
 * SHA-256, the maintainer key the app id is bound to, and the yanked flag,
 * under an increasing serial and an expiry, signed with the store's Ed25519
 * key. Instances pin the store key and refuse an index that goes back in
 * serial (rollback), one past its expiry (freeze), one with the same serial
 * but other content (fork), and any release whose digest it does not list.
 *
 * The envelope carries the payload as the exact string that was signed, so
 * verification never depends on how a JSON library orders or spaces keys.
 */
export const INDEX_FORMAT = 'warren-store-index/v1';
/** An index larger than this is refused before it is parsed. */
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Base64Key = Type.String({ minLength: 44, maxLength: 44 });
/** As Date.toISOString writes it. */
const IsoTime = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$' });
const IndexPayloadSchema = Type.Object(
  {
    format: Type.Literal(INDEX_FORMAT),
    serial: Type.Integer({ minimum: 1 }),
    issued_at: IsoTime,
    expires_at: IsoTime,
    store_key: Base64Key,
    apps: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: APP_ID_PATTERN }),
          maintainer_key: Base64Key,
          official: Type.Boolean(),
          versions: Type.Array(
            Type.Object(
              { version: Type.String({ maxLength: 128 }), sha256: Sha256, yanked: Type.Boolean() },
              { additionalProperties: false },
            ),
            { maxItems: 10_000 },
          ),
        },
        { additionalProperties: false },
      ),
      { maxItems: 100_000 },
    ),
  },
  { additionalProperties: false },
);

export interface IndexVersion {
  version: string;
  sha256: string;
  yanked: boolean;
}

export interface IndexApp {
  id: string;
  /** The maintainer's Ed25519 public key, raw 32 bytes base64. */
  maintainer_key: string;
  official: boolean;
  versions: IndexVersion[];
}

export interface StoreIndex {
  format: typeof INDEX_FORMAT;
  serial: number;
  issued_at: string;
  expires_at: string;
  /** The store key that signed it, raw 32 bytes base64. */
  store_key: string;
  apps: IndexApp[];
}

/** What travels: `{signed, signature}`, `signed` being the payload JSON exactly as signed. */
export interface SignedIndexEnvelope {
  signed: string;
  signature: string;
}

/** What a verifier remembers of the newest index it accepted. */
export interface SeenIndex {
  serial: number;
  /** SHA-256 (hex) of the `signed` string. */
  digest: string;
}

function message(signed: string): Buffer {
  return Buffer.from(`${INDEX_FORMAT}\n${signed}`, 'utf8');
}

/** Signs an index (the store's side). */
export function signIndex(
  content: { serial: number; issuedAt: Date; expiresAt: Date; apps: IndexApp[] },
  storeKey: KeyObject,
): string {
  const payload: StoreIndex = {
    format: INDEX_FORMAT,
    serial: content.serial,
    issued_at: content.issuedAt.toISOString(),
    expires_at: content.expiresAt.toISOString(),
    store_key: rawPublicKey(storeKey).toString('base64'),
    apps: content.apps,
  };
  const signed = JSON.stringify(payload);
  const envelope: SignedIndexEnvelope = {
    signed,
    signature: sign(null, message(signed), storeKey).toString('base64'),
  };
  return JSON.stringify(envelope);
}

/**
 * Verifies an index against the pinned store key (raw 32 bytes) and the
 * newest index seen before. Returns the index and what to remember of it.
 */
export function verifyIndex(
  text: string,
  pinned: { storeKey: Uint8Array; seen?: SeenIndex; now?: Date },
): { index: StoreIndex; seen: SeenIndex } {
  const where = 'store index';
  if (Buffer.byteLength(text, 'utf8') > MAX_INDEX_BYTES) {
    throw new ReleaseError('INDEX_TOO_LARGE', where, `is over ${MAX_INDEX_BYTES} bytes`);
  }
  const envelope = parseJson(text, where) as Partial<SignedIndexEnvelope>;
  if (
    typeof envelope?.signed !== 'string' ||
    typeof envelope.signature !== 'string' ||
    Object.keys(envelope).length !== 2
  ) {
    throw new ReleaseError('INDEX_MALFORMED', where, 'is not {signed, signature}');
  }
  const signature = decodeCanonicalBase64(envelope.signature, 64);
  if (!signature)
    throw new ReleaseError('INDEX_MALFORMED', `${where}.signature`, 'is not 64 bytes of base64');
  const storeKey = publicKeyFromRaw(pinned.storeKey);
  if (!verify(null, message(envelope.signed), storeKey, signature)) {
    throw new ReleaseError(
      'INDEX_SIGNATURE_INVALID',
      where,
      `is not signed by the pinned store key ${keyId(pinned.storeKey)}`,
    );
  }
  const payload = parseJson(envelope.signed, `${where}.signed`);
  if (!Value.Check(IndexPayloadSchema, payload)) {
    const first = [...Value.Errors(IndexPayloadSchema, payload)][0];
    throw new ReleaseError('INDEX_MALFORMED', `${where}${first?.path ?? ''}`, first?.message ?? 'invalid');
  }
  const index = payload as StoreIndex;
  const named = decodeCanonicalBase64(index.store_key, 32);
  if (!named || !timingSafeEqual(named, Buffer.from(pinned.storeKey))) {
    throw new ReleaseError('INDEX_MALFORMED', `${where}.store_key`, 'does not name the key that signed it');
  }
  for (const app of index.apps) {
    for (const v of app.versions) {
      if (!isSemver(v.version)) {
        throw new ReleaseError(
          'INDEX_MALFORMED',
          `${where}: ${app.id} ${v.version}`,
          'is not a semantic version',
        );
      }
    }
  }
  const now = pinned.now ?? new Date();
  if (now.getTime() > Date.parse(index.expires_at)) {
    throw new ReleaseError(
      'INDEX_EXPIRED',
      where,
      `expired at ${index.expires_at} (serial ${index.serial}): the store may be frozen or replayed`,
    );
  }
  const digest = createHash('sha256').update(envelope.signed, 'utf8').digest('hex');
  const seen = pinned.seen;
  if (seen && index.serial < seen.serial) {
    throw new ReleaseError(
      'INDEX_ROLLBACK',
      where,
      `has serial ${index.serial}, older than serial ${seen.serial} already seen (a replayed index)`,
    );
  }
  if (seen && index.serial === seen.serial && digest !== seen.digest) {
    throw new ReleaseError('INDEX_FORK', where, `serial ${index.serial} was seen before with other content`);
  }
  return { index, seen: { serial: index.serial, digest } };
}

/**
 * The index entry of a release about to be installed: refused unless the
 * index lists this app version with exactly this digest and it is not yanked.
 */
export function releaseInIndex(
  index: StoreIndex,
  release: { appId: string; version: string; sha256: string },
): { app: IndexApp; version: IndexVersion } {
  const where = `release ${release.appId} ${release.version}`;
  const app = index.apps.find((a) => a.id === release.appId);
  const version = app?.versions.find((v) => v.version === release.version);
  if (!app || !version) {
    throw new ReleaseError(
      'RELEASE_NOT_IN_INDEX',
      where,
      `is not in the store index (serial ${index.serial})`,
    );
  }
  // Digests are public: a plain comparison is fine.
  if (version.sha256 !== release.sha256) {
    throw new ReleaseError(
      'RELEASE_DIGEST_MISMATCH',
      where,
      `has SHA-256 ${release.sha256}, the index lists ${version.sha256}`,
    );
  }
  if (version.yanked)
    throw new ReleaseError('RELEASE_YANKED', where, 'was yanked by its maintainer or the store');
  return { app, version };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ReleaseError('INDEX_MALFORMED', where, 'is not JSON');
  }
}
