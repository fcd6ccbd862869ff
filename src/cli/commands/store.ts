import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { untilSignal } from '../role-options.js';

interface StoreServerFlags {
  config?: string;
  data?: string;
  listen?: string;
  database?: string;
  tlsCert?: string;
  tlsKey?: string;
  registration?: string;
  logLevel?: string;
}

interface TokenFlags {
  store: string;
  ca?: string;
  user: string;
  name: string;
  expires: string;
  passwordStdin?: boolean;
  json?: boolean;
}

/**
 * `warren store`: the app store (REST API, signed index, releases by digest).
 * Prints one JSON line `{"listening": "https://…", "store_key": "warren-ed25519 …", …}`
 * once it serves; the first admin's one-time password is in it on the first
 * start only. `warren store token create` makes an API token for the CLI.
 */
export function registerStoreCommands(program: Command): void {
  const store = program
    .command('store')
    .description('run the app store: maintainers, releases, the signed index, downloads by digest')
    .option('--config <file>', 'YAML configuration file')
    .option('--data <dir>', 'data folder (blobs, store signing key, SQLite database)')
    .option('--listen <addr>', 'HTTPS address (host:port)')
    .option(
      '--database <url>',
      'postgres://user@host:port/db (password: database.passwordFile); default SQLite',
    )
    .option('--tls-cert <file>', 'HTTPS certificate (PEM)')
    .option('--tls-key <file>', 'key of --tls-cert')
    .option('--registration <mode>', "'invite' (default) or 'open'")
    .option('--log-level <level>', 'trace, debug, info, warn or error')
    .action(async (flags: StoreServerFlags) => {
      const [{ loadConfig }, { createLogger }, { StoreConfigSchema }, { Store }] = await Promise.all([
        import('../../core/config.js'),
        import('../../core/log.js'),
        import('../../store/config.js'),
        import('../../store/store.js'),
      ]);
      const config = loadConfig(StoreConfigSchema, {
        file: flags.config,
        flags: {
          data: flags.data,
          listen: flags.listen,
          'database.url': flags.database,
          'tls.certFile': flags.tlsCert,
          'tls.keyFile': flags.tlsKey,
          registration: flags.registration,
          adminPasswordFile: process.env.WARREN_STORE_ADMIN_PASSWORD_FILE || undefined,
          logLevel: flags.logLevel,
        },
      });
      const logger = createLogger({ level: config.logLevel, name: 'store' });
      const server = new Store({ config, logger });
      const url = await server.start();
      const admin = server.initialAdminPassword;
      process.stdout.write(
        `${JSON.stringify({
          listening: url,
          store_key: server.ctx.key.line,
          store_key_id: server.ctx.key.keyId,
          ...(admin ? { admin_password: admin } : {}),
        })}\n`,
      );
      if (admin) {
        process.stderr.write(
          "warren: created the store admin 'admin' with the one-time password printed on stdout (admin_password)\n",
        );
      }
      const signal = await untilSignal();
      logger.info({ signal }, 'stopping');
      await server.stop();
    });

  const token = store.command('token').description('API tokens for the CLI (warren app publish)');
  token
    .command('create')
    .description('log in and create an API token; prints it once (set it as WARREN_STORE_TOKEN)')
    .requiredOption('--store <url>', 'the store, https://host:port')
    .requiredOption('--user <name>', 'your maintainer name')
    .option('--ca <file>', "CA certificate that signed the store's")
    .option('--name <name>', 'what the token is for', 'cli')
    .option('--expires <duration>', 'lifetime', '90d')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--json', 'machine-readable output')
    .action(async (flags: TokenFlags) => {
      const [{ StoreClient }, input] = await Promise.all([
        import('../store-client.js'),
        import('../secret-input.js'),
      ]);
      let password: string;
      if (flags.passwordStdin) [password] = (await input.readStdinLines(1, 'the password')) as [string];
      else if (input.canPrompt()) password = await input.promptSecret(`password for ${flags.user}: `);
      else
        throw new WarrenError(
          'NO_TERMINAL',
          'no terminal to ask for the password on: use --password-stdin',
          400,
        );
      const client = await StoreClient.fromFlags(
        { store: flags.store, ...(flags.ca ? { ca: flags.ca } : {}) },
        false,
      );
      try {
        const session = await client.login(flags.user, password);
        const made = await client.call<{ id: string; token: string; expires_at: string }>(
          'POST',
          '/api/v1/tokens',
          { name: flags.name, expires_in: flags.expires },
          session,
        );
        await client.call('POST', '/api/v1/auth/logout', undefined, session).catch(() => {});
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(made)}\n`);
          return;
        }
        process.stdout.write(`${made.token}\n`);
        process.stderr.write(`token ${made.id} expires ${made.expires_at}; shown only now\n`);
      } finally {
        await client.close();
      }
    });
}
