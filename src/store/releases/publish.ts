import { unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { isUniqueViolation, nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import {
  formatSignature,
  MAX_SIGNATURE_FILE,
  parseSignature,
  verifyReleaseSignature,
} from '../../core/release/signature.js';
import { ReleaseError } from '../../core/release/types.js';
import { validateRelease } from '../../core/release/validate.js';
import { formatBytes } from '../../core/units.js';
import { bumpIndexGeneration, type StoreContext } from '../context.js';
import type { StorePrincipal } from '../http/access.js';
import type { ReceivedBlob } from './blobs.js';

export interface PublishRequest {
  principal: StorePrincipal;
  body: Readable;
  /** The detached signature file's text, base64 (header `x-warren-signature`). */
  signatureHeader: string | undefined;
  /** Content-Length, when the client sent one. */
  declaredBytes: number | undefined;
  address: string;
}

export interface Published {
  app_id: string;
  version: string;
  sha256: string;
  size: number;
  /** Path of the download by digest, e.g. /releases/sha256:<hex>. */
  url: string;
  first_version: boolean;
}

/** What is known of a refused upload, for the audit log. */
export interface PublishContext {
  appId?: string;
  version?: string;
  sha256?: string;
}

/**
 * The upload pipeline (docs/store.md): signature header parsed, size and
 * quota checked on the declared length, body streamed to a temporary file
 * under the size limit, the full release validator, the signature checked
 * against the key the app id is bound to (the uploader's own key for a new
 * app), the version new; then, in one transaction, the quota charged, the app
 * and release rows written and the index marked out of date, and the blob
 * renamed into its content address. Every refusal removes the temporary file
 * and stores nothing.
 */
export async function publishRelease(
  ctx: StoreContext,
  req: PublishRequest,
  known: PublishContext,
): Promise<Published> {
  const maintainer = await ctx.accounts.byId(req.principal.maintainerId);
  if (!maintainer?.public_key) {
    throw new WarrenError('NO_MAINTAINER_KEY', 'this account has no maintainer key to publish with', 403);
  }
  const signature = decodeSignatureHeader(req.signatureHeader);
  known.appId = signature.app_id;
  known.version = signature.version;
  const limit = ctx.settings.releaseSizeBytes;
  const quota = ctx.settings.quotaBytes;
  const used = Number(maintainer.used_bytes);
  if (req.declaredBytes !== undefined) {
    if (req.declaredBytes > limit) throw tooLarge(limit);
    if (used + req.declaredBytes > quota) throw quotaExceeded(used, req.declaredBytes, quota);
  }
  let received: ReceivedBlob | undefined = await ctx.blobs.receive(req.body, limit, () => tooLarge(limit));
  try {
    known.sha256 = received.sha256;
    if (used + received.bytes > quota) throw quotaExceeded(used, received.bytes, quota);
    const release = await validateRelease(received.path);
    const { id: appId, version } = release.manifest;
    known.appId = appId;
    known.version = version;
    const app = await ctx.db
      .selectFrom('apps')
      .select(['maintainer_id', 'maintainer_key'])
      .where('id', '=', appId)
      .executeTakeFirst();
    if (app && app.maintainer_id !== maintainer.id) {
      throw new WarrenError('APP_NOT_YOURS', `app '${appId}' belongs to another maintainer`, 403);
    }
    const boundKey = app?.maintainer_key ?? maintainer.public_key;
    try {
      verifyReleaseSignature(signature, {
        sha256: release.sha256,
        appId,
        version,
        publicKey: Buffer.from(boundKey, 'base64'),
      });
    } catch (err) {
      // Another key than the bound one is a refusal of who, not of what: 403.
      if (err instanceof ReleaseError && err.code === 'SIGNATURE_WRONG_KEY') {
        throw new WarrenError(err.code, err.message, 403);
      }
      throw err;
    }
    const exists = await ctx.db
      .selectFrom('releases')
      .select('sha256')
      .where('app_id', '=', appId)
      .where('version', '=', version)
      .executeTakeFirst();
    if (exists) throw versionExists(appId, version);

    const now = nowIso();
    const blob = received;
    let placed = false;
    try {
      await ctx.db.transaction().execute(async (trx) => {
        // Charged atomically: two uploads at once cannot both pass the quota.
        const charged = await trx
          .updateTable('maintainers')
          .set((eb) => ({ used_bytes: eb('used_bytes', '+', blob.bytes) }))
          .where('id', '=', maintainer.id)
          .where((eb) => eb(eb('used_bytes', '+', blob.bytes), '<=', quota))
          .executeTakeFirst();
        if (Number(charged.numUpdatedRows) !== 1) throw quotaExceeded(used, blob.bytes, quota);
        if (app) {
          await trx
            .updateTable('apps')
            .set({ name: release.manifest.name, description: release.manifest.description, updated_at: now })
            .where('id', '=', appId)
            .execute();
        } else {
          await trx
            .insertInto('apps')
            .values({
              id: appId,
              maintainer_id: maintainer.id,
              maintainer_key: boundKey,
              name: release.manifest.name,
              description: release.manifest.description,
              created_at: now,
              updated_at: now,
            })
            .execute();
        }
        await trx
          .insertInto('releases')
          .values({
            app_id: appId,
            version,
            sha256: blob.sha256,
            size: blob.bytes,
            signature: formatSignature(signature),
            published_by: maintainer.name,
            published_at: now,
            yanked_at: null,
            yanked_by: null,
          })
          .execute();
        await bumpIndexGeneration(trx);
        await ctx.audit.record(
          {
            actor: maintainer.name,
            action: 'release.publish',
            target: `app:${appId}@${version}`,
            address: req.address,
            detail: { sha256: blob.sha256, size: blob.bytes, first_version: !app },
          },
          trx,
        );
        // Last: the rows exist only if the blob is in place, and the blob stays only if they commit.
        await ctx.blobs.place(blob);
        placed = true;
      });
    } catch (err) {
      if (placed) await unlink(ctx.blobs.pathOf(blob.sha256)).catch(() => {});
      // A concurrent upload of the same version (or the same first version) won the race.
      if (isUniqueViolation(err)) throw versionExists(appId, version);
      throw err;
    }
    received = undefined;
    return {
      app_id: appId,
      version,
      sha256: blob.sha256,
      size: blob.bytes,
      url: `/releases/sha256:${blob.sha256}`,
      first_version: !app,
    };
  } finally {
    if (received) await unlink(received.path).catch(() => {});
  }
}

function decodeSignatureHeader(header: string | undefined) {
  if (!header) {
    throw new ReleaseError(
      'SIGNATURE_MISSING',
      'x-warren-signature',
      'the upload needs the detached signature file, base64, in header x-warren-signature',
    );
  }
  if (header.length > Math.ceil((MAX_SIGNATURE_FILE * 4) / 3) + 4 || !/^[A-Za-z0-9+/]+={0,2}$/.test(header)) {
    throw new ReleaseError('SIGNATURE_MALFORMED', 'x-warren-signature', 'is not base64 of a signature file');
  }
  return parseSignature(Buffer.from(header, 'base64').toString('utf8'), 'x-warren-signature');
}

function tooLarge(limit: number): WarrenError {
  return new WarrenError(
    'RELEASE_TOO_LARGE',
    `the release is larger than this store's limit of ${formatBytes(limit)} (${limit} bytes)`,
    413,
  );
}

function quotaExceeded(used: number, adding: number, quota: number): WarrenError {
  return new WarrenError(
    'QUOTA_EXCEEDED',
    `storage quota exceeded: ${formatBytes(used)} used + ${formatBytes(adding)} would pass the limit of ${formatBytes(quota)} (${used} + ${adding} > ${quota} bytes)`,
    413,
  );
}

function versionExists(appId: string, version: string): WarrenError {
  return new WarrenError(
    'VERSION_EXISTS',
    `${appId} ${version} is already published; versions are immutable: publish a new version`,
    409,
  );
}
