import type { Kysely, Migration } from 'kysely';

/**
 * The store's migrations (applied by core/db/migrate.ts). Append new ones;
 * never edit a released one.
 */
export const storeMigrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      const text = 'text' as const;
      await db.schema
        .createTable('maintainers')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('password_hash', text, (c) => c.notNull())
        // A key names one account: two accounts with one key would share its apps.
        .addColumn('public_key', text, (c) => c.unique())
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('official', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('used_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('token_hash', text, (c) => c.primaryKey())
        .addColumn('maintainer_id', text, (c) => c.notNull().references('maintainers.id').onDelete('cascade'))
        .addColumn('address', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('sessions_maintainer')
        .on('sessions')
        .columns(['maintainer_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('maintainer_id', text, (c) => c.notNull().references('maintainers.id').onDelete('cascade'))
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('secret_hash', text, (c) => c.notNull().unique())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .addColumn('last_used_at', text)
        .addColumn('revoked_at', text)
        .execute();
      await db.schema
        .createIndex('api_tokens_maintainer')
        .on('api_tokens')
        .columns(['maintainer_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('invitations')
        .addColumn('code_hash', text, (c) => c.primaryKey())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .addColumn('used_at', text)
        .addColumn('used_by', text)
        .execute();
      await db.schema
        .createTable('apps')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('maintainer_id', text, (c) => c.notNull().references('maintainers.id'))
        .addColumn('maintainer_key', text, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('apps_maintainer').on('apps').column('maintainer_id').execute();
      await db.schema
        .createTable('releases')
        .addColumn('app_id', text, (c) => c.notNull().references('apps.id'))
        .addColumn('version', text, (c) => c.notNull())
        .addColumn('sha256', text, (c) => c.notNull().unique())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('signature', text, (c) => c.notNull())
        .addColumn('published_by', text, (c) => c.notNull())
        .addColumn('published_at', text, (c) => c.notNull())
        .addColumn('yanked_at', text)
        .addColumn('yanked_by', text)
        // Versions are immutable: one row per (app, version), never overwritten.
        .addPrimaryKeyConstraint('releases_pk', ['app_id', 'version'])
        .execute();
      await db.schema
        .createTable('index_state')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('serial', 'bigint', (c) => c.notNull())
        .addColumn('generation', 'bigint', (c) => c.notNull())
        .execute();
      await (db as Kysely<{ index_state: { id: number; serial: number; generation: number } }>)
        .insertInto('index_state')
        .values({ id: 1, serial: 0, generation: 0 })
        .execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('at', text, (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addColumn('action', text, (c) => c.notNull())
        .addColumn('target', text, (c) => c.notNull())
        .addColumn('address', text, (c) => c.notNull())
        .addColumn('detail', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_at').on('audit_log').columns(['at', 'id']).execute();
    },
  },
};
