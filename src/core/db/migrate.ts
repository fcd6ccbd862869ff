import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { WarrenError } from '../errors.js';

/**
 * Brings the schema up to date with a role's migrations. Migrations live in
 * code (not files read at run time) so that the single bundled executable
 * carries them. Several replicas may race here: Kysely locks.
 */
export async function migrateToLatest(
  db: Kysely<unknown>,
  migrations: Record<string, Migration>,
): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    throw new WarrenError('DATABASE_MIGRATION', `database migration failed: ${String(error)}`, 500);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
