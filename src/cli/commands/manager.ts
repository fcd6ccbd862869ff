import type { Command } from 'commander';
import { untilSignal } from '../role-options.js';

interface ManagerFlags {
  config?: string;
  data?: string;
  listen?: string;
  rpcListen?: string;
  opsListen?: string;
  database?: string;
  logLevel?: string;
}

/**
 * `warren manager`: users, tokens, clusters, the built-in CA, jobs. Prints one
 * JSON line `{"listening": "https://…", "api": "https://…", "rpc": "host:port", "ops": "host:port"}` on
 * stdout once it serves (scripts and tests read it); logs go to stderr.
 */
export function registerManagerCommand(program: Command): void {
  program
    .command('manager')
    .description('run the manager: REST API, users and tokens, clusters, CA and enrolment, jobs')
    .option('--config <file>', 'YAML configuration file')
    .option('--data <dir>', 'data folder (CA, SQLite database)')
    .option('--listen <addr>', 'HTTPS REST address (host:port)')
    .option('--rpc-listen <addr>', 'mTLS RPC address for components (host:port)')
    .option('--ops-listen <addr>', '/metrics and /healthz address (host:port)')
    .option(
      '--database <url>',
      'postgres://user@host:port/db (password: database.passwordFile); default SQLite',
    )
    .option('--log-level <level>', 'trace, debug, info, warn or error')
    .action(async (flags: ManagerFlags) => {
      const [{ loadConfig }, { createLogger }, { ManagerConfigSchema }, { Manager }] = await Promise.all([
        import('../../core/config.js'),
        import('../../core/log.js'),
        import('../../manager/config.js'),
        import('../../manager/manager.js'),
      ]);
      const config = loadConfig(ManagerConfigSchema, {
        file: flags.config,
        flags: {
          data: flags.data,
          listen: flags.listen,
          rpcListen: flags.rpcListen,
          opsListen: flags.opsListen,
          'database.url': flags.database,
          logLevel: flags.logLevel,
        },
      });
      const logger = createLogger({ level: config.logLevel, name: 'manager' });
      const manager = new Manager({ config, logger });
      const addresses = await manager.start();
      // The first root's one-time password is shown here once, never logged.
      const rootPassword = manager.initialRootPassword;
      process.stdout.write(
        `${JSON.stringify({ listening: addresses.api, ...addresses, ...(rootPassword ? { root_password: rootPassword } : {}) })}\n`,
      );
      if (rootPassword) {
        process.stderr.write(
          `warren: created user 'root' with the one-time password printed on stdout (root_password); log in with 'warren login --user root' and change it\n`,
        );
      }
      const signal = await untilSignal();
      logger.info({ signal }, 'stopping');
      await manager.stop();
    });
}
