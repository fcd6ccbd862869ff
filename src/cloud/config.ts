import { type Static, Type } from '@sinclair/typebox';
import { databaseConfigSection, resolveDatabaseSettings } from '../core/db/config.js';
import type { DatabaseSettings } from '../core/db/database.js';
import { WarrenError } from '../core/errors.js';
import { parseHostPort } from '../core/net.js';
import { parseDuration, parseSize } from '../core/units.js';

const Duration = (def: string, description: string) => Type.String({ default: def, description });
const Size = (def: string, description: string) => Type.String({ default: def, description });
const Count = (def: number, description: string, minimum = 1) =>
  Type.Integer({ default: def, minimum, description });
const Text = (def: string, description: string) => Type.String({ default: def, description });
const section = <T extends Parameters<typeof Type.Object>[0]>(properties: T) =>
  Type.Object(properties, { default: {}, additionalProperties: false });

/** A DNS name of at least one label, lower case, no trailing dot. */
const DOMAIN = /^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * `warren cloud` configuration (YAML < `WARREN_*` env < flags, core/config.ts).
 * No key holds a secret: the first admin's password and the database
 * password come from files, the ACME DNS hook gets its values in its
 * environment.
 */
export const CloudConfigSchema = Type.Object({
  data: Text(
    'warren-data/cloud',
    'folder for the SQLite file, certificates, release zips, the instance secret',
  ),
  domain: Text(
    'warren.localhost',
    'the console is https://<domain>, each app https://<app>.<domain> (a wildcard DNS record points both here)',
  ),
  listen: Text('0.0.0.0:443', 'host:port of the HTTPS gateway (console and apps)'),
  httpListen: Text('0.0.0.0:80', "host:port of the HTTP listener that only redirects to HTTPS; '' = none"),
  publicPort: Count(443, 'the HTTPS port browsers use (differs from listen behind a port forward)'),
  adminPasswordFile: Text(
    '',
    "file holding the first admin's password (env WARREN_ADMIN_PASSWORD_FILE); '' = a one-time password printed once",
  ),
  logLevel: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  database: databaseConfigSection('cloud.db'),
  auth: section({
    sessionIdle: Duration('12h', 'a console session unused this long ends'),
    sessionLifetime: Duration('7d', 'a console session ends this long after sign-in, used or not'),
    invitationTtl: Duration('7d', 'an invitation link is valid this long'),
    loginAttemptsPerMinute: Count(10, 'failed sign-ins per user name in a minute before 429'),
    loginAttemptsPerAddress: Count(50, 'failed sign-ins per client address in a minute before 429'),
  }),
  rateLimit: section({
    perSession: Count(100, 'API requests per second per session'),
    perAddress: Count(200, 'API requests per second per client address'),
  }),
  store: section({
    url: Text('', "the App Store, https://host:port; '' = no store (installs impossible)"),
    caFile: Text('', "CA certificate (PEM) to trust for the store's HTTPS, besides the system's"),
    keyFile: Text('', "the store's public key (`warren-ed25519 …` line) the index must be signed with"),
  }),
  peer: section({
    socket: Text('', "the local peer's API socket: release zips are fetched through it"),
    mirror: Text('', "host:port of the local peer's registry mirror: images are pulled through it"),
    platform: Text('linux/amd64', 'platform of the images to pull (os/arch[/variant])'),
  }),
  docker: section({
    socket: Text('/var/run/docker.sock', "the Docker Engine's API socket"),
  }),
  sandbox: section({
    memory: Size('1GiB', 'most memory an app container may have (app.yml may ask for less)'),
    cpus: Type.Number({ default: 2, exclusiveMinimum: 0, description: 'most CPUs per app container' }),
    pids: Count(1024, 'most processes per app container'),
  }),
  gateway: section({
    maxBodySize: Size('100MiB', 'largest request body passed to an app'),
    headersTimeout: Duration('10s', 'a client must send its request headers within this'),
    requestTimeout: Duration('5m', 'a whole request (headers and body) must arrive within this'),
    upstreamTimeout: Duration('60s', 'an app must start answering within this (504 after)'),
  }),
  acme: section({
    directoryUrl: Text('', "the ACME directory certificates are ordered from; '' = Let's Encrypt's"),
    email: Text('', 'contact address of the ACME account'),
    caFile: Text('', "CA certificate (PEM) to trust for the ACME server's HTTPS (tests: Pebble's)"),
    dnsHook: Text(
      '',
      "executable run as `<hook> present|cleanup` with the TXT record in its environment; '' = the operator creates the record",
    ),
  }),
});

export type CloudConfig = Static<typeof CloudConfigSchema>;

/** The configuration with addresses split, sizes in bytes and durations in milliseconds. */
export interface CloudSettings {
  data: string;
  domain: string;
  listen: { host: string; port: number };
  httpListen: { host: string; port: number } | null;
  publicPort: number;
  /** https://<domain>[:port]: the Origin every state-changing console request must carry. */
  consoleOrigin: string;
  adminPasswordFile: string;
  database: DatabaseSettings;
  sessionIdleMs: number;
  sessionLifetimeMs: number;
  invitationTtlMs: number;
  loginAttemptsPerMinute: number;
  loginAttemptsPerAddress: number;
  rateLimit: CloudConfig['rateLimit'];
  store: CloudConfig['store'];
  peer: CloudConfig['peer'];
  dockerSocket: string;
  caps: { memoryBytes: number; cpus: number; pids: number };
  gateway: {
    maxBodyBytes: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    upstreamTimeoutMs: number;
  };
  acme: CloudConfig['acme'];
}

export function resolveCloudSettings(config: CloudConfig): CloudSettings {
  const d = (value: string, key: string) => parseDuration(value, key);
  const domain = config.domain.toLowerCase();
  if (!DOMAIN.test(domain)) {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key 'domain': '${config.domain}' is not a DNS name (e.g. cloud.example.org)`,
      400,
    );
  }
  const listen = parseHostPort(config.listen, 'listen');
  // Checked before anything starts: an index is only ever trusted through its pinned key.
  if (config.store.url && !/^https:\/\/[^\s/]+/.test(config.store.url)) {
    throw new WarrenError('CONFIG_INVALID', "configuration key 'store.url': must be https://host:port", 400);
  }
  if (config.store.url && (!config.peer.socket || !config.peer.mirror)) {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key '${config.peer.socket ? 'peer.mirror' : 'peer.socket'}': installs from the store go through the local peer (its API socket and its registry mirror)`,
      400,
    );
  }
  if (config.store.url && !config.store.keyFile) {
    throw new WarrenError(
      'CONFIG_INVALID',
      "configuration key 'store.keyFile': a store is set (store.url), so its public key file is needed to verify its index (--store-key)",
      400,
    );
  }
  const portSuffix = config.publicPort === 443 ? '' : `:${config.publicPort}`;
  return {
    data: config.data,
    domain,
    listen,
    httpListen: config.httpListen ? parseHostPort(config.httpListen, 'httpListen') : null,
    publicPort: config.publicPort,
    consoleOrigin: `https://${domain}${portSuffix}`,
    adminPasswordFile: config.adminPasswordFile,
    database: resolveDatabaseSettings(config.database),
    sessionIdleMs: d(config.auth.sessionIdle, 'auth.sessionIdle'),
    sessionLifetimeMs: d(config.auth.sessionLifetime, 'auth.sessionLifetime'),
    invitationTtlMs: d(config.auth.invitationTtl, 'auth.invitationTtl'),
    loginAttemptsPerMinute: config.auth.loginAttemptsPerMinute,
    loginAttemptsPerAddress: config.auth.loginAttemptsPerAddress,
    rateLimit: config.rateLimit,
    store: config.store,
    peer: config.peer,
    dockerSocket: config.docker.socket,
    caps: {
      memoryBytes: parseSize(config.sandbox.memory, 'sandbox.memory'),
      cpus: config.sandbox.cpus,
      pids: config.sandbox.pids,
    },
    gateway: {
      maxBodyBytes: parseSize(config.gateway.maxBodySize, 'gateway.maxBodySize'),
      headersTimeoutMs: d(config.gateway.headersTimeout, 'gateway.headersTimeout'),
      requestTimeoutMs: d(config.gateway.requestTimeout, 'gateway.requestTimeout'),
      upstreamTimeoutMs: d(config.gateway.upstreamTimeout, 'gateway.upstreamTimeout'),
    },
    acme: config.acme,
  };
}

/** `https://<app>.<domain>[:port]`: where an app is opened. */
export function appOrigin(settings: Pick<CloudSettings, 'domain' | 'publicPort'>, appId: string): string {
  const portSuffix = settings.publicPort === 443 ? '' : `:${settings.publicPort}`;
  return `https://${appId}.${settings.domain}${portSuffix}`;
}
