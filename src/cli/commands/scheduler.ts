import type { Command } from 'commander';
import { roleOptions, untilSignal } from '../role-options.js';

interface SchedulerFlags {
  config?: string;
  listen?: string;
  tlsDir?: string;
  opsListen?: string;
  logLevel?: string;
  manager?: string;
  cluster?: string;
  advertiseIp?: string;
}

/**
 * `warren scheduler`: the scheduler role. Prints one JSON line
 * `{"listening": "host:port", "ops": "host:port"}` on stdout once it accepts
 * connections (scripts and tests read it); logs go to stderr.
 */
export function registerSchedulerCommand(program: Command): void {
  roleOptions(program.command('scheduler'))
    .description('run a scheduler: chooses parents for peers, relays piece manifests, triggers seeds')
    .option('--listen <addr>', 'mTLS RPC address (host:port)')
    .option('--advertise-ip <ip>', 'address peers dial, as told to the manager (default: the listen host)')
    .option(
      '--manager <addr>',
      "the manager's RPC address (host:port): register, trust lists, cluster limits",
    )
    .option('--cluster <name>', 'cluster to join (default: chosen by the manager)')
    .action(async (flags: SchedulerFlags) => {
      const [
        { loadConfig },
        { createLogger },
        { loadTlsDir },
        { TrustState },
        { SchedulerConfigSchema },
        { Scheduler },
      ] = await Promise.all([
        import('../../core/config.js'),
        import('../../core/log.js'),
        import('../../core/tls.js'),
        import('../../core/trust.js'),
        import('../../scheduler/config.js'),
        import('../../scheduler/scheduler.js'),
      ]);
      const config = loadConfig(SchedulerConfigSchema, {
        file: flags.config,
        flags: {
          listen: flags.listen,
          tlsDir: flags.tlsDir,
          opsListen: flags.opsListen,
          logLevel: flags.logLevel,
          advertiseIp: flags.advertiseIp,
          'manager.address': flags.manager,
          'manager.cluster': flags.cluster,
        },
      });
      const logger = createLogger({ level: config.logLevel, name: 'scheduler' });
      const manager = config.manager.address;
      const scheduler = new Scheduler({
        config,
        tls: loadTlsDir(config.tlsDir),
        logger,
        // With a manager: its revocation list and blocklist, and certificate renewal through it.
        ...(manager ? { trust: new TrustState(), renewal: { manager } } : {}),
      });
      const addresses = await scheduler.start();
      process.stdout.write(`${JSON.stringify({ listening: addresses.listen, ops: addresses.ops })}\n`);
      const signal = await untilSignal();
      logger.info({ signal }, 'stopping');
      await scheduler.stop();
    });
}
