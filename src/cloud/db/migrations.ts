import type { Kysely, Migration } from 'kysely';

/**
 * The cloud's migrations (applied by core/db/migrate.ts). Append new ones;
 * never edit a released one. Foreign keys cascade so that deleting a user
 * ends their sessions, app sessions and grants, and ending a console session
 * ends the app sessions made from it (SQLite runs with `foreign_keys = ON`).
 */
export const cloudMigrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      const text = 'text' as const;
      await db.schema
        .createTable('users')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('password_hash', text, (c) => c.notNull())
        .addColumn('role', text, (c) => c.notNull())
        .addColumn('totp_secret', text)
        .addColumn('totp_pending', text)
        .addColumn('totp_last_step', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_role').on('users').column('role').execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('user_id', text, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('address', text, (c) => c.notNull())
        .addColumn('user_agent', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('last_seen_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('sessions_user')
        .on('sessions')
        .columns(['user_id', 'created_at'])
        .execute();
      await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();
      await db.schema.createIndex('sessions_last_seen').on('sessions').column('last_seen_at').execute();
      await db.schema
        .createTable('invitations')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('code_hash', text, (c) => c.notNull().unique())
        .addColumn('role', text, (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .addColumn('used_at', text)
        .execute();
      await db.schema
        .createTable('app_sessions')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('session_id', text, (c) => c.notNull().references('sessions.id').onDelete('cascade'))
        .addColumn('user_id', text, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('app_id', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('app_sessions_session').on('app_sessions').column('session_id').execute();
      await db.schema.createIndex('app_sessions_user').on('app_sessions').column('user_id').execute();
      await db.schema.createIndex('app_sessions_expires').on('app_sessions').column('expires_at').execute();
      await db.schema
        .createTable('app_access')
        .addColumn('app_id', text, (c) => c.notNull())
        .addColumn('user_id', text, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('app_access_pk', ['app_id', 'user_id'])
        .execute();
      await db.schema.createIndex('app_access_user').on('app_access').column('user_id').execute();
      await db.schema
        .createTable('apps')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('version', text, (c) => c.notNull())
        .addColumn('sha256', text, (c) => c.notNull())
        .addColumn('maintainer_key', text, (c) => c.notNull())
        .addColumn('official', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('state_detail', text, (c) => c.notNull().defaultTo(''))
        .addColumn('access_mode', text, (c) => c.notNull().defaultTo('all'))
        .addColumn('manifest', text, (c) => c.notNull())
        .addColumn('compose_yaml', text, (c) => c.notNull())
        .addColumn('images', text, (c) => c.notNull().defaultTo('{}'))
        .addColumn('installed_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('store_state')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('serial', 'bigint', (c) => c.notNull())
        .addColumn('digest', text, (c) => c.notNull())
        .addColumn('envelope', text, (c) => c.notNull())
        .addColumn('fetched_at', text, (c) => c.notNull())
        .execute();
      // The one row: serial 0 and an empty envelope mean no index was accepted yet.
      await (
        db as Kysely<{
          store_state: { id: number; serial: number; digest: string; envelope: string; fetched_at: string };
        }>
      )
        .insertInto('store_state')
        .values({ id: 1, serial: 0, digest: '', envelope: '', fetched_at: '' })
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
