import type { Command } from 'commander';
import { untilSignal } from '../role-options.js';

interface CloudFlags {
  config?: string;
  data?: string;
  domain?: string;
  listen?: string;
  httpListen?: string;
  publicPort?: string;
  database?: string;
  store?: string;
  storeCa?: string;
  storeKey?: string;
  peerSocket?: string;
  peerMirror?: string;
  dockerSocket?: string;
  logLevel?: string;
}

/**
 * `warren cloud`: a self-hosted app cloud instance — users, the console, the
 * HTTPS gateway in front of every app, installs from the store through the
 * local peer, apps sandboxed on the Docker Engine. Prints one JSON line
 * `{"console": "https://…", …}` once it serves; the first admin's one-time
 * password is in it on the first start only.
 */
export function registerCloudCommand(program: Command): void {
  program
    .command('cloud')
    .description('run an app cloud instance: console, gateway, users, apps sandboxed on Docker')
    .option('--config <file>', 'YAML configuration file')
    .option('--data <dir>', 'data folder (SQLite database, certificates, release zips)')
    .option('--domain <name>', 'console at https://<domain>, apps at https://<app>.<domain>')
    .option('--listen <addr>', 'HTTPS address (host:port)')
    .option('--http-listen <addr>', "HTTP address that redirects to HTTPS ('' = none)")
    .option('--public-port <port>', 'the HTTPS port browsers use')
    .option(
      '--database <url>',
      'postgres://user@host:port/db (password: database.passwordFile); default SQLite',
    )
    .option('--store <url>', 'the App Store, https://host:port')
    .option('--store-ca <file>', "CA certificate that signed the store's")
    .option('--store-key <file>', "the store's public key file (the index must be signed with it)")
    .option('--peer-socket <path>', "the local peer's API socket")
    .option('--peer-mirror <addr>', "the local peer's registry mirror (host:port)")
    .option('--docker-socket <path>', "the Docker Engine's socket")
    .option('--log-level <level>', 'trace, debug, info, warn or error')
    .action(async (flags: CloudFlags) => {
      const [{ loadConfig }, { createLogger }, { CloudConfigSchema }, { Cloud }] = await Promise.all([
        import('../../core/config.js'),
        import('../../core/log.js'),
        import('../../cloud/config.js'),
        import('../../cloud/cloud.js'),
      ]);
      const config = loadConfig(CloudConfigSchema, {
        file: flags.config,
        flags: {
          data: flags.data,
          domain: flags.domain,
          listen: flags.listen,
          httpListen: flags.httpListen,
          publicPort: flags.publicPort === undefined ? undefined : Number(flags.publicPort),
          'database.url': flags.database,
          'store.url': flags.store,
          'store.caFile': flags.storeCa,
          'store.keyFile': flags.storeKey,
          'peer.socket': flags.peerSocket,
          'peer.mirror': flags.peerMirror,
          'docker.socket': flags.dockerSocket,
          adminPasswordFile: process.env.WARREN_ADMIN_PASSWORD_FILE || undefined,
          logLevel: flags.logLevel,
        },
      });
      const logger = createLogger({ level: config.logLevel, name: 'cloud' });
      const cloud = new Cloud({ config, logger });
      const started = await cloud.start();
      const admin = cloud.initialAdminPassword;
      process.stdout.write(
        `${JSON.stringify({
          console: started.console,
          listening: started.listening,
          docker: started.docker,
          ...(admin ? { admin_password: admin } : {}),
        })}\n`,
      );
      if (admin) {
        process.stderr.write(
          "warren: created the admin 'admin' with the one-time password printed on stdout (admin_password); the first sign-in must change it\n",
        );
      }
      const signal = await untilSignal();
      logger.info({ signal }, 'stopping');
      await cloud.stop();
    });
}
