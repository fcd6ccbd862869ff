import { type Static, Type } from '@sinclair/typebox';
import { databaseConfigSection, resolveDatabaseSettings } from '../core/db/config.js';
import type { DatabaseSettings } from '../core/db/database.js';
import { WarrenError } from '../core/errors.js';
import { parseHostPort } from '../core/net.js';
import { DEFAULT_RELEASE_LIMITS } from '../core/release/types.js';
import { parseDuration, parseSize } from '../core/units.js';

const Duration = (def: string, description: string) => Type.String({ default: def, description });
const Size = (def: string, description: string) => Type.String({ default: def, description });
const Count = (def: number, description: string, minimum = 1) =>
  Type.Integer({ default: def, minimum, description });
const section = <T extends Parameters<typeof Type.Object>[0]>(properties: T) =>
  Type.Object(properties, { default: {}, additionalProperties: false });

/**
 * `warren store` configuration (YAML < `WARREN_*` env < flags, core/config.ts).
 * No key holds a secret: the admin's first password and the database
 * password come from files.
 */
export const StoreConfigSchema = Type.Object({
  data: Type.String({
    default: 'warren-data/store',
    description: 'folder for release blobs, the store signing key, the SQLite file',
  }),
  listen: Type.String({ default: '0.0.0.0:8444', description: 'host:port of the HTTPS API' }),
  adminPasswordFile: Type.String({
    default: '',
    description:
      "file holding the first admin's password (env WARREN_STORE_ADMIN_PASSWORD_FILE); '' = a one-time password printed once",
  }),
  registration: Type.Union([Type.Literal('invite'), Type.Literal('open')], {
    default: 'invite',
    description: "'invite': maintainers register with an admin's invitation code; 'open': anyone may",
  }),
  logLevel: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  database: databaseConfigSection('store.db'),
  tls: section({
    certFile: Type.String({ default: '', description: 'HTTPS certificate (PEM); required' }),
    keyFile: Type.String({ default: '', description: 'key of tls.certFile; required' }),
  }),
  auth: section({
    sessionTtl: Duration('12h', 'a console login session ends this long after it was made'),
    tokenMaxLifetime: Duration('365d', 'longest expiry an API token may have'),
    invitationTtl: Duration('7d', 'an invitation code is valid this long'),
    loginAttemptsPerMinute: Count(10, 'failed logins per name in a minute before 429'),
    loginAttemptsPerAddress: Count(
      50,
      'failed logins or invitation codes per address in a minute before 429',
    ),
  }),
  limits: section({
    releaseSize: Size('10MiB', 'largest release zip accepted (at most the format limit, 10 MiB)'),
    quota: Size('1GiB', 'release bytes stored per maintainer (yanked versions count)'),
  }),
  index: section({
    expiry: Duration('7d', 'a signed index expires this long after it was signed; re-signed at half'),
  }),
  rateLimit: section({
    perToken: Count(100, 'requests per second per token or session'),
    perAddress: Count(200, 'requests per second per client address'),
    uploadsPerMinute: Count(10, 'release uploads per minute per client address'),
    downloadsPerMinute: Count(600, 'release downloads per minute per client address'),
  }),
});

export type StoreConfig = Static<typeof StoreConfigSchema>;

/** The configuration with addresses split, sizes in bytes and durations in milliseconds. */
export interface StoreSettings {
  data: string;
  listen: { host: string; port: number };
  adminPasswordFile: string;
  registration: 'invite' | 'open';
  database: DatabaseSettings;
  tls: StoreConfig['tls'];
  sessionTtlMs: number;
  tokenMaxLifetimeMs: number;
  invitationTtlMs: number;
  loginAttemptsPerMinute: number;
  loginAttemptsPerAddress: number;
  releaseSizeBytes: number;
  quotaBytes: number;
  indexExpiryMs: number;
  rateLimit: StoreConfig['rateLimit'];
}

export function resolveStoreSettings(config: StoreConfig): StoreSettings {
  const d = (value: string, key: string) => parseDuration(value, key);
  const releaseSizeBytes = parseSize(config.limits.releaseSize, 'limits.releaseSize');
  // A larger zip would be accepted here and refused by every instance's validator.
  if (releaseSizeBytes > DEFAULT_RELEASE_LIMITS.maxZipBytes) {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key 'limits.releaseSize': at most ${DEFAULT_RELEASE_LIMITS.maxZipBytes} bytes (the release format's limit)`,
      400,
    );
  }
  const indexExpiryMs = d(config.index.expiry, 'index.expiry');
  if (indexExpiryMs < 2_000) {
    throw new WarrenError('CONFIG_INVALID', "configuration key 'index.expiry': at least 2s", 400);
  }
  return {
    data: config.data,
    listen: parseHostPort(config.listen, 'listen'),
    adminPasswordFile: config.adminPasswordFile,
    registration: config.registration,
    database: resolveDatabaseSettings(config.database),
    tls: config.tls,
    sessionTtlMs: d(config.auth.sessionTtl, 'auth.sessionTtl'),
    tokenMaxLifetimeMs: d(config.auth.tokenMaxLifetime, 'auth.tokenMaxLifetime'),
    invitationTtlMs: d(config.auth.invitationTtl, 'auth.invitationTtl'),
    loginAttemptsPerMinute: config.auth.loginAttemptsPerMinute,
    loginAttemptsPerAddress: config.auth.loginAttemptsPerAddress,
    releaseSizeBytes,
    quotaBytes: parseSize(config.limits.quota, 'limits.quota'),
    indexExpiryMs,
    rateLimit: config.rateLimit,
  };
}
