import { join } from 'node:path';
import type { Cloud, CloudStarted } from '../../cloud/cloud.js';
import type { Logger } from '../../core/log.js';

/**
 * `warren up`'s cloud: console at https://warren.localhost:<port>, apps at
 * https://<app>.warren.localhost:<port> (browsers resolve *.localhost to loopback,
 * so no DNS is needed), its self-signed wildcard certificate, the store of
 * `warren up` pinned by its key file, release zips through the local peer
 * and images through its mirror, apps on the Docker Engine at the default
 * socket — without one it runs and says that installs need it.
 */
export async function startUpCloud(options: {
  data: string;
  host: string;
  port: number;
  storeUrl: string;
  caFile: string;
  peerSocket: string;
  mirror: string;
  logLevel: string;
  log: Logger;
}): Promise<{ cloud: Cloud; started: CloudStarted }> {
  const [{ loadConfig }, { CloudConfigSchema }, { Cloud }] = await Promise.all([
    import('../../core/config.js'),
    import('../../cloud/config.js'),
    import('../../cloud/cloud.js'),
  ]);
  const cloud = new Cloud({
    config: loadConfig(CloudConfigSchema, {
      flags: {
        data: join(options.data, 'cloud'),
        // Two labels: certificate checkers (Node's, browsers') refuse a wildcard for a single-label name (*.localhost).
        domain: process.env.WARREN_DOMAIN || 'warren.localhost',
        listen: `${options.host}:${options.port}`,
        httpListen: '',
        publicPort: options.port,
        adminPasswordFile: process.env.WARREN_ADMIN_PASSWORD_FILE || undefined,
        'store.url': options.storeUrl,
        'store.caFile': options.caFile,
        'store.keyFile': join(options.data, 'store', 'store-key.pub'),
        'peer.socket': options.peerSocket,
        'peer.mirror': options.mirror,
        logLevel: options.logLevel,
      },
    }),
    logger: options.log,
  });
  const started = await cloud.start();
  return { cloud, started };
}
