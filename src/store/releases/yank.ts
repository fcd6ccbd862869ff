import { nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { bumpIndexGeneration, type StoreContext } from '../context.js';
import type { StorePrincipal } from '../http/access.js';

/**
 * Yanks a version: the row and the blob stay (instances that have it keep
 * working, and the digest URL still serves it), the index marks it yanked so
 * no instance installs it anew, and "latest" skips it. The app's maintainer
 * or a store admin may yank; yanking twice is a no-op.
 */
export async function yankRelease(
  ctx: StoreContext,
  principal: StorePrincipal,
  appId: string,
  version: string,
  address: string,
  reason: string,
): Promise<{ app_id: string; version: string; yanked_at: string }> {
  return ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('releases')
      .innerJoin('apps', 'apps.id', 'releases.app_id')
      .select(['apps.maintainer_id', 'releases.yanked_at'])
      .where('releases.app_id', '=', appId)
      .where('releases.version', '=', version)
      .executeTakeFirst();
    if (!row) throw new WarrenError('NOT_FOUND', `no release ${appId} ${version}`, 404);
    if (row.maintainer_id !== principal.maintainerId && !principal.admin) {
      throw new WarrenError(
        'FORBIDDEN',
        `only the maintainer of '${appId}' or a store admin may yank it`,
        403,
      );
    }
    if (row.yanked_at) return { app_id: appId, version, yanked_at: row.yanked_at };
    const at = nowIso();
    await trx
      .updateTable('releases')
      .set({ yanked_at: at, yanked_by: principal.name })
      .where('app_id', '=', appId)
      .where('version', '=', version)
      .execute();
    await bumpIndexGeneration(trx);
    await ctx.audit.record(
      {
        actor: principal.name,
        action: 'release.yank',
        target: `app:${appId}@${version}`,
        address,
        detail: { reason },
      },
      trx,
    );
    return { app_id: appId, version, yanked_at: at };
  });
}
