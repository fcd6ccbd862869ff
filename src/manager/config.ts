import { type Static, Type } from '@sinclair/typebox';
import { databaseConfigSection, resolveDatabaseSettings } from '../core/db/config.js';
import { parseHostPort } from '../core/net.js';
import { type RegistriesConfig, RegistriesConfigSchema } from '../core/oci/registry-config.js';
import { parseDuration } from '../core/units.js';

const Duration = (def: string, description: string) => Type.String({ default: def, description });
const Count = (def: number, description: string, minimum = 1) =>
  Type.Integer({ default: def, minimum, description });
const section = <T extends Parameters<typeof Type.Object>[0]>(properties: T) =>
  Type.Object(properties, { default: {}, additionalProperties: false });

/**
 * `warren manager` configuration (YAML < `WARREN_*` env < flags, core/config.ts).
 * No key holds a secret: the database password comes from a file
 * (`database.passwordFile`), never from a flag or the URL on a command line.
 */
export const ManagerConfigSchema = Type.Object({
  data: Type.String({
    default: 'warren-data/manager',
    description: 'folder for the CA, SQLite file, caches',
  }),
  listen: Type.String({ default: '127.0.0.1:8443', description: 'host:port of the HTTPS REST API' }),
  rpcListen: Type.String({ default: '127.0.0.1:8003', description: 'host:port of the mTLS RPC server' }),
  opsListen: Type.String({ default: '127.0.0.1:0', description: 'host:port of /metrics, /healthz' }),
  advertiseHosts: Type.Array(Type.String(), {
    default: [],
    description: 'extra DNS names / IPs for the manager certificate (loopback is always in)',
  }),
  rootPasswordFile: Type.String({
    default: '',
    description:
      "file holding the first root's password (env WARREN_ROOT_PASSWORD_FILE); '' = a one-time password printed once",
  }),
  logLevel: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  database: databaseConfigSection('manager.db'),
  tls: section({
    certFile: Type.String({ default: '', description: "REST certificate; '' = issued by the built-in CA" }),
    keyFile: Type.String({ default: '', description: 'key of tls.certFile' }),
  }),
  auth: section({
    sessionTtl: Duration('12h', 'a login session ends this long after it was made'),
    tokenMaxLifetime: Duration('365d', 'longest expiry a personal access token may have'),
    rotationGrace: Duration('1h', 'an old token secret keeps working this long after a rotate'),
    loginAttemptsPerMinute: Count(10, 'failed logins per user name in a minute before 429'),
    loginAttemptsPerAddress: Count(50, 'failed logins per client address in a minute before 429'),
  }),
  rateLimit: section({
    perToken: Count(200, 'requests per second per token or session'),
    perAddress: Count(400, 'requests per second per client address'),
    jobsPerCluster: Count(10, 'job creations per second per cluster'),
  }),
  certificates: section({
    lifetime: Duration('7d', 'life of a component certificate; renewed at two thirds'),
  }),
  keepalive: section({
    interval: Duration('10s', 'how often components sync with the manager'),
    inactiveAfter: Duration('30s', 'a scheduler or seed peer silent this long is inactive'),
  }),
  jobs: section({
    concurrency: Count(4, 'jobs run at once'),
    timeout: Duration('30m', 'a job still running after this fails'),
    queueLimit: Count(1_000, 'pending jobs; creations beyond are refused'),
  }),
  cache: section({
    refresh: Duration('5s', 'how often the in-memory copy of clusters, CRL and blocklist is reloaded'),
  }),
  /** Image preheat resolves images on these registries only (no other host is ever asked). */
  registries: RegistriesConfigSchema,
});

export type ManagerConfig = Static<typeof ManagerConfigSchema>;

/** The configuration with addresses split and durations in milliseconds. */
export interface ManagerSettings {
  data: string;
  listen: { host: string; port: number };
  rpcListen: { host: string; port: number };
  opsListen: { host: string; port: number };
  advertiseHosts: string[];
  rootPasswordFile: string;
  database: ManagerConfig['database'] & { timeoutMs: number };
  tls: ManagerConfig['tls'];
  sessionTtlMs: number;
  tokenMaxLifetimeMs: number;
  rotationGraceMs: number;
  loginAttemptsPerMinute: number;
  loginAttemptsPerAddress: number;
  rateLimit: ManagerConfig['rateLimit'];
  certificateLifetimeMs: number;
  keepaliveIntervalMs: number;
  inactiveAfterMs: number;
  jobConcurrency: number;
  jobTimeoutMs: number;
  jobQueueLimit: number;
  cacheRefreshMs: number;
  registries: RegistriesConfig;
}

export function resolveManagerSettings(config: ManagerConfig): ManagerSettings {
  const d = (value: string, key: string) => parseDuration(value, key);
  return {
    data: config.data,
    listen: parseHostPort(config.listen, 'listen'),
    rpcListen: parseHostPort(config.rpcListen, 'rpcListen'),
    opsListen: parseHostPort(config.opsListen, 'opsListen'),
    advertiseHosts: config.advertiseHosts,
    rootPasswordFile: config.rootPasswordFile,
    database: resolveDatabaseSettings(config.database),
    tls: config.tls,
    sessionTtlMs: d(config.auth.sessionTtl, 'auth.sessionTtl'),
    tokenMaxLifetimeMs: d(config.auth.tokenMaxLifetime, 'auth.tokenMaxLifetime'),
    rotationGraceMs: d(config.auth.rotationGrace, 'auth.rotationGrace'),
    loginAttemptsPerMinute: config.auth.loginAttemptsPerMinute,
    loginAttemptsPerAddress: config.auth.loginAttemptsPerAddress,
    rateLimit: config.rateLimit,
    certificateLifetimeMs: d(config.certificates.lifetime, 'certificates.lifetime'),
    keepaliveIntervalMs: d(config.keepalive.interval, 'keepalive.interval'),
    inactiveAfterMs: d(config.keepalive.inactiveAfter, 'keepalive.inactiveAfter'),
    jobConcurrency: config.jobs.concurrency,
    jobTimeoutMs: d(config.jobs.timeout, 'jobs.timeout'),
    jobQueueLimit: config.jobs.queueLimit,
    cacheRefreshMs: d(config.cache.refresh, 'cache.refresh'),
    registries: config.registries,
  };
}
