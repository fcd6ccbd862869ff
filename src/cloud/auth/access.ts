import type { Kysely } from 'kysely';
import { WarrenError } from '../../core/errors.js';
import type { CloudDatabase } from '../db/schema.js';
import type { AuthEvents } from './events.js';

export type AccessMode = 'all' | 'chosen';

/** Who asks: enough to decide. */
export interface AccessUser {
  id: string;
  role: 'admin' | 'user';
}

export interface AppAccessView {
  mode: AccessMode;
  users: Array<{ id: string; name: string }>;
}

/** Most users one app can be granted to in one request. */
export const MAX_GRANTS = 1_000;

/**
 * Per-app access: an app is open to every user (`all`, the default) or to the
 * users an admin chose (`chosen`: rows in app_access); admins may always open
 * every app. A change tells the app-session cache at once, so an app cookie
 * whose user lost access stops working on the next request.
 */
export class AppAccess {
  constructor(private readonly components: { db: Kysely<CloudDatabase>; events: AuthEvents }) {}

  private get db() {
    return this.components.db;
  }

  /** True when the app is installed (has a row in apps). */
  async exists(appId: string): Promise<boolean> {
    const row = await this.db.selectFrom('apps').select('id').where('id', '=', appId).executeTakeFirst();
    return row !== undefined;
  }

  /** May `user` open `appId`? False for an app that is not installed. */
  async mayOpen(user: AccessUser, appId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('apps')
      .leftJoin('app_access', (join) =>
        join.onRef('app_access.app_id', '=', 'apps.id').on('app_access.user_id', '=', user.id),
      )
      .select(['apps.access_mode', 'app_access.user_id'])
      .where('apps.id', '=', appId)
      .executeTakeFirst();
    if (!row) return false;
    if (user.role === 'admin' || row.access_mode === 'all') return true;
    return row.user_id === user.id;
  }

  /** The ids of the installed apps `user` may open ('all' for an admin). */
  async openableAppIds(user: AccessUser): Promise<'all' | string[]> {
    if (user.role === 'admin') return 'all';
    const rows = await this.db
      .selectFrom('apps')
      .select('id')
      .where((eb) =>
        eb.or([
          eb('access_mode', '=', 'all'),
          eb(
            'id',
            'in',
            eb.selectFrom('app_access').select('app_access.app_id').where('app_access.user_id', '=', user.id),
          ),
        ]),
      )
      .orderBy('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** The app's mode and granted users; 404 APP_NOT_FOUND when it is not installed. */
  async get(appId: string, db: Kysely<CloudDatabase> = this.db): Promise<AppAccessView> {
    const app = await db.selectFrom('apps').select('access_mode').where('id', '=', appId).executeTakeFirst();
    if (!app) throw appNotFound(appId);
    const users = await db
      .selectFrom('app_access')
      .innerJoin('users', 'users.id', 'app_access.user_id')
      .select(['users.id', 'users.name'])
      .where('app_access.app_id', '=', appId)
      .orderBy('users.name')
      .execute();
    return { mode: app.access_mode, users };
  }

  /**
   * Sets the app's mode and its granted users (replacing the previous list,
   * which is kept for 'all' too, so switching back to 'chosen' restores it
   * unless a new list is given). Unknown user ids: 400 USER_NOT_FOUND.
   */
  async set(appId: string, mode: AccessMode, userIds: readonly string[]): Promise<AppAccessView> {
    const ids = [...new Set(userIds)];
    if (ids.length > MAX_GRANTS) {
      throw new WarrenError(
        'TOO_MANY_USERS',
        `an app can be granted to at most ${MAX_GRANTS} users at once`,
        400,
      );
    }
    const view = await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('apps')
        .set({ access_mode: mode })
        .where('id', '=', appId)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) throw appNotFound(appId);
      if (ids.length > 0) {
        const known = await trx.selectFrom('users').select('id').where('id', 'in', ids).execute();
        const missing = ids.filter((id) => !known.some((k) => k.id === id));
        if (missing.length > 0) {
          throw new WarrenError('USER_NOT_FOUND', `no user ${missing.slice(0, 5).join(', ')}`, 400);
        }
      }
      await trx.deleteFrom('app_access').where('app_id', '=', appId).execute();
      if (ids.length > 0) {
        await trx
          .insertInto('app_access')
          .values(ids.map((user_id) => ({ app_id: appId, user_id })))
          .execute();
      }
      return this.get(appId, trx);
    });
    this.components.events.appAccessChanged(appId);
    return view;
  }

  /** Drops the app's grants and cached visitors (call when the app is uninstalled). */
  async forgetApp(appId: string): Promise<void> {
    await this.db.deleteFrom('app_access').where('app_id', '=', appId).execute();
    await this.db.deleteFrom('app_sessions').where('app_id', '=', appId).execute();
    this.components.events.appAccessChanged(appId);
  }
}

export function appNotFound(appId: string): WarrenError {
  return new WarrenError('APP_NOT_FOUND', `no app '${appId}' is installed`, 404);
}
