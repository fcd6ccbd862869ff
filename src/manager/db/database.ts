import { openDatabase as openRoleDatabase, type RoleDatabase } from '../../core/db/database.js';
import type { Logger } from '../../core/log.js';
import type { ManagerSettings } from '../config.js';
import { managerMigrations } from './migrations.js';
import type { Database } from './schema.js';

/** The manager's open, migrated database (SQLite or PostgreSQL; core/db/database.ts). */
export type ManagerDatabase = RoleDatabase<Database>;

/** Opens SQLite (`database.url` empty, `<data>/manager.db`) or PostgreSQL and migrates it. */
export function openDatabase(
  settings: Pick<ManagerSettings, 'data' | 'database'>,
  log: Logger,
): Promise<ManagerDatabase> {
  return openRoleDatabase<Database>(
    {
      data: settings.data,
      database: settings.database,
      sqliteFile: 'manager.db',
      applicationName: 'warren-manager',
      migrations: managerMigrations,
    },
    log,
  );
}
