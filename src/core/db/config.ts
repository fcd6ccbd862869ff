import { Type } from '@sinclair/typebox';
import { parseDuration } from '../units.js';
import type { DatabaseSettings } from './database.js';

/**
 * The `database` configuration section shared by the roles with a database
 * (manager, store). No key holds a secret: the PostgreSQL password comes from
 * the file `passwordFile` names, never from a flag or the URL.
 */
export function databaseConfigSection(sqliteFile: string) {
  return Type.Object(
    {
      url: Type.String({
        default: '',
        description: `'' = SQLite file <data>/${sqliteFile}; or postgres://user@host:port/db`,
      }),
      passwordFile: Type.String({ default: '', description: 'file holding the PostgreSQL password' }),
      sslMode: Type.Union(
        ['disable', 'require', 'verify-ca', 'verify-full'].map((m) => Type.Literal(m)),
        { default: 'disable', description: 'TLS to PostgreSQL (verify-* check the server certificate)' },
      ),
      caFile: Type.String({ default: '', description: 'CA certificate for PostgreSQL TLS' }),
      poolSize: Type.Integer({ default: 10, minimum: 1, description: 'PostgreSQL connections' }),
      timeout: Type.String({
        default: '5s',
        description: 'a query or connection attempt slower than this fails',
      }),
    },
    { default: {}, additionalProperties: false },
  );
}

/** The section with its timeout in milliseconds. */
export function resolveDatabaseSettings<T extends Omit<DatabaseSettings, 'timeoutMs'> & { timeout: string }>(
  section: T,
): T & { timeoutMs: number } {
  return { ...section, timeoutMs: parseDuration(section.timeout, 'database.timeout') };
}
