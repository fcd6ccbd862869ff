import { openDatabase, type RoleDatabase } from '../../core/db/database.js';
import type { Logger } from '../../core/log.js';
import type { StoreSettings } from '../config.js';
import { storeMigrations } from './migrations.js';
import type { StoreDatabase } from './schema.js';

export type StoreDb = RoleDatabase<StoreDatabase>;

/** Opens SQLite (`<data>/store.db`) or PostgreSQL and migrates it to the store's schema. */
export function openStoreDatabase(
  settings: Pick<StoreSettings, 'data' | 'database'>,
  log: Logger,
): Promise<StoreDb> {
  return openDatabase<StoreDatabase>(
    {
      data: settings.data,
      database: settings.database,
      sqliteFile: 'store.db',
      applicationName: 'warren-store',
      migrations: storeMigrations,
    },
    log,
  );
}
