import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { keyId } from '../../core/release/keys.js';
import { formatSignature, SIGNATURE_FORMAT } from '../../core/release/signature.js';
import type { MaintainerRow } from '../auth/accounts.js';
import { bumpIndexGeneration, type StoreContext } from '../context.js';
import type { StoreDatabase } from '../db/schema.js';
import type { StorePrincipal } from '../http/access.js';
import type { ReleaseRef, RotationStatement, verifyRotationStatement } from '../key-rotation.js';

/** Every release of the maintainer's apps bound to `publicKey`, in a stable order. */
export async function releasesBoundTo(
  db: Kysely<StoreDatabase>,
  maintainerId: string,
  publicKey: string,
): Promise<ReleaseRef[]> {
  return db
    .selectFrom('releases')
    .innerJoin('apps', 'apps.id', 'releases.app_id')
    .select(['releases.app_id', 'releases.version', 'releases.sha256'])
    .where('apps.maintainer_id', '=', maintainerId)
    .where('apps.maintainer_key', '=', publicKey)
    .orderBy('releases.app_id')
    .orderBy('releases.version')
    .execute();
}

/**
 * Applies a verified rotation in one transaction: the maintainer's key, every
 * app bound to the old key, and every release's stored signature (now the new
 * key's) change together, and the index is marked out of date. The list of
 * releases is read again inside the transaction, so an upload that slipped in
 * after the client listed them makes the rotation fail rather than leave a
 * release signed by a key no app is bound to.
 */
export async function rotateKey(
  ctx: StoreContext,
  principal: StorePrincipal,
  statement: RotationStatement,
  address: string,
  verify: typeof verifyRotationStatement,
): Promise<MaintainerRow> {
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const me = await trx
        .selectFrom('maintainers')
        .select(['id', 'name', 'public_key', 'is_admin', 'official', 'used_bytes', 'created_at'])
        .where('id', '=', principal.maintainerId)
        .executeTakeFirstOrThrow();
      if (!me.public_key) {
        throw new WarrenError('NO_MAINTAINER_KEY', 'this account has no key to rotate', 403);
      }
      const releases = await releasesBoundTo(trx, me.id, me.public_key);
      const newKey = verify(statement, {
        maintainer: me.name,
        currentKey: Buffer.from(me.public_key, 'base64'),
        releases,
      });
      const newKeyText = newKey.toString('base64');
      await trx.updateTable('maintainers').set({ public_key: newKeyText }).where('id', '=', me.id).execute();
      await trx
        .updateTable('apps')
        .set({ maintainer_key: newKeyText })
        .where('maintainer_id', '=', me.id)
        .where('maintainer_key', '=', me.public_key)
        .execute();
      for (const r of statement.releases) {
        const signature = formatSignature({
          format: SIGNATURE_FORMAT,
          app_id: r.app_id,
          version: r.version,
          sha256: r.sha256,
          public_key: newKeyText,
          signature: r.signature,
        });
        await trx
          .updateTable('releases')
          .set({ signature })
          .where('app_id', '=', r.app_id)
          .where('version', '=', r.version)
          .execute();
      }
      await bumpIndexGeneration(trx);
      await ctx.audit.record(
        {
          actor: me.name,
          action: 'maintainer.key_rotation',
          target: `maintainer:${me.name}`,
          address,
          detail: {
            old_key_id: keyId(Buffer.from(me.public_key, 'base64')),
            new_key_id: keyId(newKey),
            releases: statement.releases.length,
          },
        },
        trx,
      );
      return { ...me, public_key: newKeyText };
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new WarrenError('KEY_IN_USE', 'the new key belongs to another maintainer', 409);
    }
    throw err;
  }
}
