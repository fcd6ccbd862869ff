import type { Kysely, Migration } from 'kysely';
import type { Database } from './schema.js';

/** The cluster made at first start; components without a matching cluster join it. */
export const DEFAULT_CLUSTER_ID = 'cls_default';

/**
 * Migrations live in code (not files read at run time) so that the single
 * bundled executable carries them. Append new ones; never edit a released one.
 */
export const managerMigrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      const text = 'text' as const;
      await db.schema
        .createTable('users')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('role', text, (c) => c.notNull())
        .addColumn('password_hash', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('password_changed_at', text, (c) => c.notNull())
        .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('token_hash', text, (c) => c.primaryKey())
        .addColumn('user_id', text, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('address', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .addColumn('last_used_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('tokens')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('user_id', text, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('scopes', text, (c) => c.notNull())
        .addColumn('secret_hash', text, (c) => c.notNull().unique())
        .addColumn('previous_hash', text)
        .addColumn('previous_valid_until', text)
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .addColumn('last_used_at', text)
        .addColumn('revoked_at', text)
        .execute();
      await db.schema.createIndex('tokens_previous_hash').on('tokens').column('previous_hash').execute();
      // Per-user listing, "end my other sessions", and cascades on user deletion.
      await db.schema
        .createIndex('sessions_user')
        .on('sessions')
        .columns(['user_id', 'created_at'])
        .execute();
      await db.schema.createIndex('tokens_user').on('tokens').columns(['user_id', 'created_at']).execute();
      await db.schema
        .createTable('clusters')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('config', text, (c) => c.notNull())
        .addColumn('scopes', text, (c) => c.notNull())
        .addColumn('is_default', 'integer', (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('components')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('role', text, (c) => c.notNull())
        .addColumn('cluster_id', text, (c) => c.notNull().references('clusters.id'))
        .addColumn('hostname', text, (c) => c.notNull())
        .addColumn('ip', text, (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('idc', text, (c) => c.notNull())
        .addColumn('location', text, (c) => c.notNull())
        .addColumn('registered_at', text, (c) => c.notNull())
        .addColumn('last_seen_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('certificates')
        .addColumn('serial', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('role', text, (c) => c.notNull())
        .addColumn('hosts', text, (c) => c.notNull().defaultTo('[]'))
        .addColumn('issued_at', text, (c) => c.notNull())
        .addColumn('not_after', text, (c) => c.notNull())
        .addColumn('revoked_at', text)
        .addColumn('revoked_by', text)
        .execute();
      await db.schema.createIndex('certificates_name').on('certificates').column('name').execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('type', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('cluster_id', text, (c) => c.notNull())
        .addColumn('args', text, (c) => c.notNull())
        .addColumn('result', text, (c) => c.notNull())
        .addColumn('progress', 'real', (c) => c.notNull())
        .addColumn('error', text)
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('started_at', text)
        .addColumn('finished_at', text)
        // Which manager runs it, and when that manager last said it still does (jobs/job-store.ts).
        .addColumn('runner_id', text)
        .addColumn('heartbeat_at', text)
        .execute();
      await db.schema.createIndex('jobs_state').on('jobs').columns(['state', 'created_at']).execute();
      await db.schema.createIndex('jobs_created').on('jobs').columns(['created_at', 'id']).execute();
      await db.schema
        .createTable('blocklist')
        .addColumn('host', text, (c) => c.primaryKey())
        .addColumn('reason', text, (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
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
      // Every installation has a cluster to put components and jobs in.
      const now = new Date().toISOString();
      await (db as Kysely<Database>)
        .insertInto('clusters')
        .values({
          id: DEFAULT_CLUSTER_ID,
          name: 'default',
          description: 'created at first start',
          config: '{}',
          scopes: '{}',
          is_default: 1,
          created_at: now,
          updated_at: now,
        })
        .execute();
    },
  },
};
