import { type DatabaseSettings, openDatabase, type RoleDatabase } from '../../core/db/database.js';
import type { Logger } from '../../core/log.js';
import { cloudMigrations } from './migrations.js';
import type { CloudDatabase } from './schema.js';

export type CloudDb = RoleDatabase<CloudDatabase>;

/** Opens SQLite (`<data>/cloud.db`) or PostgreSQL and migrates it to the cloud's schema. */
export function openCloudDatabase(
  settings: { data: string; database: DatabaseSettings },
  log: Logger,
): Promise<CloudDb> {
  return openDatabase<CloudDatabase>(
    {
      data: settings.data,
      database: settings.database,
      sqliteFile: 'cloud.db',
      applicationName: 'warren-cloud',
      migrations: cloudMigrations,
    },
    log,
  );
}
