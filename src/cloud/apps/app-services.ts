import type { Kysely } from 'kysely';
import type { AuditLog } from '../../core/db/audit-log.js';
import { WarrenError } from '../../core/errors.js';
import type { RestApp } from '../../core/http/app.js';
import type { Logger } from '../../core/log.js';
import type { Platform } from '../../core/oci/media-types.js';
import type { AppAccess } from '../auth/access.js';
import type { CloudDatabase } from '../db/schema.js';
import type { DockerEngine } from '../docker/engine.js';
import type { AppRoute } from '../gateway/types.js';
import { registerAppsRoutes } from '../routes/apps.js';
import { registerStoreRoutes } from '../routes/store.js';
import type { AppSandbox, SandboxCaps } from '../sandbox/types.js';
import { PeerImages } from './images.js';
import { Installer } from './installer.js';
import { PeerApiClient } from './peer-client.js';
import { type ReconcileReport, reconcileApps } from './reconcile.js';
import { ReleaseFetcher } from './release-fetch.js';
import { StoreIndexClient } from './store-index.js';

export interface AppServicesOptions {
  db: Kysely<CloudDatabase>;
  log: Logger;
  audit: AuditLog<CloudDatabase>;
  sandbox: AppSandbox;
  access: AppAccess;
  dataDir: string;
  caps: SandboxCaps;
  /** The App Store and its pinned key; undefined: installs answer that no store is configured. */
  store: { url: string; key: Uint8Array; caPem?: string } | undefined;
  /** The local peer: its API socket (release zips) and registry mirror host:port (images); config requires both with a store. */
  peer: { socket: string; mirror: string };
  dockerSocket: string;
  /** The Engine API client the sandbox uses too. */
  engine: DockerEngine;
  platform: Platform;
  /** False: reconcile is skipped (nothing to reconcile against) and installs fail with Docker's error. */
  dockerAvailable: boolean;
}

/** The store as this instance sees it: configured, the serial of the index it last accepted, the last refusal. */
export interface StoreStatus {
  configured: boolean;
  serial: number | null;
  error: { code: string; message: string } | null;
}

export interface AppServices {
  installer: Installer;
  reconcileReport: ReconcileReport | undefined;
  route(appId: string): Promise<AppRoute | undefined>;
  storeStatus(): Promise<StoreStatus>;
  registerRoutes(app: RestApp, where: { domain: string; publicPort: number }): void;
  close(): Promise<void>;
}

/** What stands in for the store when none is configured: every use says so. */
const noStore = {
  refresh(): Promise<never> {
    return Promise.reject(
      new WarrenError(
        'STORE_NOT_CONFIGURED',
        "no App Store is configured (set 'store.url' and 'store.keyFile')",
        503,
      ),
    );
  },
  lastAccepted: () => Promise.resolve(undefined),
  releaseUrl(): string {
    throw new WarrenError('STORE_NOT_CONFIGURED', 'no App Store is configured', 503);
  },
  signature(): Promise<string> {
    return Promise.reject(new WarrenError('STORE_NOT_CONFIGURED', 'no App Store is configured', 503));
  },
  close: () => Promise.resolve(),
};

/**
 * The app side of the cloud, assembled: the store's verified index, release
 * zips fetched through the local peer, images pulled through its mirror, the
 * installer on the sandbox, and the start-up reconcile that repairs what a
 * crash left half-made.
 */
export async function startAppServices(o: AppServicesOptions): Promise<AppServices> {
  const index = o.store
    ? new StoreIndexClient({
        db: o.db,
        log: o.log,
        storeUrl: o.store.url,
        storeKey: o.store.key,
        ...(o.store.caPem ? { caPem: o.store.caPem } : {}),
      })
    : undefined;
  const source = index ?? noStore;
  // Without a store nothing reaches the peer: an install stops at the index
  // (STORE_NOT_CONFIGURED); with one, the configuration requires both peer settings.
  const peer = new PeerApiClient(o.peer.socket);
  const releases = new ReleaseFetcher({ dataDir: o.dataDir, peer, store: source });
  const images = new PeerImages({
    mirror: `http://${o.peer.mirror}`,
    dockerSocket: o.dockerSocket,
    engine: o.engine,
    platform: o.platform,
  });
  const installer = new Installer({
    db: o.db,
    log: o.log,
    audit: o.audit,
    sandbox: o.sandbox,
    index: source,
    releases,
    images,
    access: o.access,
    dataDir: o.dataDir,
  });
  await installer.open();
  let reconcileReport: ReconcileReport | undefined;
  if (o.dockerAvailable) {
    reconcileReport = await reconcileApps({ installer, sandbox: o.sandbox, audit: o.audit, log: o.log });
    const { repaired, removed, failed } = reconcileReport;
    if (repaired.length + removed.length + failed.length > 0) {
      o.log.warn({ repaired, removed, failed }, 'start-up reconcile changed or reported apps');
    }
  }
  return {
    installer,
    reconcileReport,
    route: (appId) => installer.route(appId),
    storeStatus: async () => ({
      configured: index !== undefined,
      serial: (await index?.lastAccepted())?.index.serial ?? null,
      error: index?.lastError ? { code: index.lastError.code, message: index.lastError.message } : null,
    }),
    registerRoutes(app, where) {
      registerAppsRoutes(app, {
        installer,
        access: o.access,
        sandbox: o.sandbox,
        domain: where.domain,
        publicPort: where.publicPort,
      });
      registerStoreRoutes(app, { index: source, installer, releases, caps: o.caps });
    },
    async close() {
      await installer.close();
      await Promise.allSettled([source.close(), peer.close(), images.close()]);
    },
  };
}
