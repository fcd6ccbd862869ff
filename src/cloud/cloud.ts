import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WarrenError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/log.js';
import { formatHostPort } from '../core/net.js';
import { parsePlatform } from '../core/oci/resolve-image.js';
import { readPublicKeyFile } from '../core/release/keys.js';
import { type AppServices, startAppServices } from './apps/app-services.js';
import type { ReconcileReport } from './apps/reconcile.js';
import { type CloudAuth, createCloudAuth, registerCloudAuthRoutes } from './auth/cloud-auth.js';
import { loadOrCreateInstanceSecret } from './auth/instance-secret.js';
import { AcmeManager } from './certs/acme.js';
import { CertificateStore } from './certs/certificate-store.js';
import { type CloudConfig, type CloudSettings, resolveCloudSettings } from './config.js';
import { type CloudDb, openCloudDatabase } from './db/database.js';
import { DockerEngine } from './docker/engine.js';
import { Gateway } from './gateway/gateway.js';
import { buildCloudApp, type CloudApp } from './http/app.js';
import { registerCertificateRoutes } from './routes/certificates.js';
import { defaultWebRoot, registerConsoleRoutes } from './routes/console.js';
import { registerSettingsRoutes } from './routes/settings.js';
import { DockerSandbox } from './sandbox/sandbox.js';

export interface CloudOptions {
  config: CloudConfig;
  logger?: Logger;
  /** Where the built console is (default dist/web beside the code). */
  webRoot?: string;
}

export interface CloudStarted {
  /** https://<domain>[:port]: where users sign in. */
  console: string;
  /** The HTTPS listener's address. */
  listening: string;
  /** Whether app installs can work: the Docker Engine answered. */
  docker: { available: boolean; message: string };
}

/**
 * The cloud role's composition root: the database, users and sessions, the
 * certificate, the Docker Engine and the app sandbox, installs from the store
 * through the local peer, the console's API, and the gateway — the one HTTPS
 * listener that serves the console at https://<domain> and each app at
 * https://<app>.<domain> to signed-in users with access to it.
 */
export class Cloud {
  readonly settings: CloudSettings;
  private readonly log: Logger;
  private database: CloudDb | undefined;
  private api: CloudApp | undefined;
  private gateway: Gateway | undefined;
  private certificates: CertificateStore | undefined;
  private apps: AppServices | undefined;
  private authServices: CloudAuth | undefined;
  private engine: DockerEngine | undefined;
  private oneTimeAdminPassword: string | undefined;
  private report: ReconcileReport | undefined;

  constructor(private readonly options: CloudOptions) {
    this.settings = resolveCloudSettings(options.config);
    this.log = (options.logger ?? silentLogger()).child({ component: 'cloud' });
  }

  /** The first admin's one-time password, when this start created the admin without a password file. */
  get initialAdminPassword(): string | undefined {
    return this.oneTimeAdminPassword;
  }

  /** What the start-up reconcile repaired, removed and reported. */
  get reconcileReport(): ReconcileReport | undefined {
    return this.report;
  }

  /** Users, sessions and access (tests and `warren up` drive them in-process). */
  get auth(): CloudAuth {
    if (!this.authServices) throw new Error('cloud not started');
    return this.authServices;
  }

  /** The installer and the app services, once started. */
  get appServices(): AppServices | undefined {
    return this.apps;
  }

  async start(): Promise<CloudStarted> {
    const s = this.settings;
    mkdirSync(s.data, { recursive: true, mode: 0o700 });
    this.database = await openCloudDatabase(s, this.log);
    const db = this.database.db;
    const auth = createCloudAuth(
      {
        db,
        dialect: this.database.dialect,
        log: this.log,
        instanceSecret: loadOrCreateInstanceSecret(s.data),
      },
      s,
    );
    this.authServices = auth;
    const admin = await auth.users.bootstrapAdmin(s.adminPasswordFile || undefined);
    this.oneTimeAdminPassword = admin.oneTimePassword;

    const certificates = await CertificateStore.open({
      dir: join(s.data, 'certs'),
      domain: s.domain,
      log: this.log,
    });
    this.certificates = certificates;
    const acme = new AcmeManager({
      dir: join(s.data, 'certs'),
      domain: s.domain,
      store: certificates,
      log: this.log,
      ...(s.acme.directoryUrl ? { directoryUrl: s.acme.directoryUrl } : {}),
      ...(s.acme.caFile ? { caBundlePem: readFileSync(s.acme.caFile, 'utf8') } : {}),
      ...(s.acme.dnsHook ? { dnsHook: s.acme.dnsHook } : {}),
    });

    const engine = new DockerEngine({ socketPath: s.dockerSocket });
    this.engine = engine;
    const docker = await dockerAvailability(engine, s.dockerSocket);
    if (!docker.available) this.log.warn({ socket: s.dockerSocket }, docker.message);
    const sandbox = new DockerSandbox({
      engine,
      caps: s.caps,
      instanceId: instanceId(s.data),
      log: this.log,
    });
    this.apps = await startAppServices({
      db,
      log: this.log,
      audit: auth.audit,
      sandbox,
      access: auth.access,
      dataDir: s.data,
      caps: s.caps,
      store: s.store.url
        ? {
            url: s.store.url,
            key: (await readPublicKeyFile(s.store.keyFile)).raw,
            ...(s.store.caFile ? { caPem: readFileSync(s.store.caFile, 'utf8') } : {}),
          }
        : undefined,
      peer: { socket: s.peer.socket, mirror: s.peer.mirror },
      dockerSocket: s.dockerSocket,
      engine,
      platform: parsePlatform(s.peer.platform),
      dockerAvailable: docker.available,
    });
    this.report = this.apps.reconcileReport;

    const api = await buildCloudApp({ logger: this.log, sessions: auth.sessions, rateLimit: s.rateLimit });
    registerCloudAuthRoutes(api, auth, s);
    registerCertificateRoutes(api, { store: certificates, acme, audit: auth.audit });
    this.apps.registerRoutes(api, { domain: s.domain, publicPort: s.publicPort });
    registerSettingsRoutes(api, { settings: s, docker, store: async () => this.apps?.storeStatus() });
    registerConsoleRoutes(api, { webRoot: this.options.webRoot ?? defaultWebRoot() });
    await api.ready();
    this.api = api;

    const active = certificates.current();
    const gateway = new Gateway({
      domain: s.domain,
      https: s.listen,
      ...(s.httpListen ? { http: { ...s.httpListen, redirectPort: s.publicPort } } : {}),
      certificate: { cert: active.certPem, key: active.keyPem },
      routes: {
        console: (req, res) => api.server.emit('request', req, res),
        app: (appId) => this.apps!.route(appId),
      },
      gate: auth.appSessions,
      limits: {
        maxBodyBytes: s.gateway.maxBodyBytes,
        headersTimeoutMs: s.gateway.headersTimeoutMs,
        requestTimeoutMs: s.gateway.requestTimeoutMs,
        upstreamResponseTimeoutMs: s.gateway.upstreamTimeoutMs,
      },
      log: this.log,
    });
    certificates.onChange((c) => gateway.setCertificate({ cert: c.certPem, key: c.keyPem }));
    certificates.start();
    await gateway.start();
    this.gateway = gateway;
    const listening = formatHostPort(s.listen.host, gateway.address.https.port);
    this.log.info({ console: s.consoleOrigin, listening, docker: docker.available }, 'cloud listening');
    return { console: s.consoleOrigin, listening, docker };
  }

  /** The HTTPS listener's port (tests listen on port 0). */
  get port(): number {
    if (!this.gateway) throw new Error('cloud not started');
    return this.gateway.address.https.port;
  }

  async stop(): Promise<void> {
    await this.gateway?.stop();
    this.gateway = undefined;
    this.certificates?.stop();
    await this.apps?.close();
    this.apps = undefined;
    await this.engine?.close();
    this.engine = undefined;
    await this.api?.close();
    this.api = undefined;
    await this.database?.close();
    this.database = undefined;
    this.log.info('cloud stopped');
  }
}

/** A stable id for this instance's objects in Docker (its labels), kept in <data>/instance-id. */
function instanceId(data: string): string {
  const file = join(data, 'instance-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{16,64}$/.test(id)) return id;
    throw new WarrenError(
      'INSTANCE_ID_INVALID',
      `${file} does not hold an instance id (hex); restore it`,
      500,
    );
  }
  const id = randomBytes(16).toString('hex');
  writeFileSync(file, `${id}\n`, { mode: 0o600, flag: 'wx' });
  return id;
}

async function dockerAvailability(
  engine: DockerEngine,
  socket: string,
): Promise<{ available: boolean; message: string }> {
  try {
    const version = await engine.version();
    return { available: true, message: `Docker Engine ${version.Version} at ${socket}` };
  } catch (err) {
    return {
      available: false,
      message: (err as Error).message.startsWith('app installs need')
        ? (err as Error).message
        : `app installs need a Docker Engine: ${(err as Error).message}`,
    };
  }
}
