import type { Command } from 'commander';
import { roleOptions, untilSignal } from '../role-options.js';

interface PeerFlags {
  config?: string;
  tlsDir?: string;
  opsListen?: string;
  logLevel?: string;
  data?: string;
  listen?: string;
  scheduler?: string;
  socket?: string;
  seed?: boolean;
  advertiseIp?: string;
  manager?: string;
  cluster?: string;
}

/** `warren peer`: the peer daemon (`--seed` for a seed peer). */
export function registerPeerCommand(program: Command): void {
  roleOptions(program.command('peer'))
    .description('run a peer daemon (with --seed, a seed peer that fetches from origins)')
    .option('--data <dir>', 'data folder (tasks, socket, default TLS folder)')
    .option('--listen <addr>', 'upload server address host:port')
    .option('--advertise-ip <ip>', 'address other peers use to reach this one')
    .option('--scheduler <addr>', 'scheduler host:port')
    .option(
      '--manager <addr>',
      "the manager's RPC address (host:port): schedulers, trust lists, cluster config",
    )
    .option('--cluster <name>', 'cluster to join (default: chosen by the manager)')
    .option('--socket <path>', 'local API socket path (default <data>/peer.sock)')
    .option('--seed', 'run as a seed peer')
    .action(async (flags: PeerFlags) => {
      const [{ loadConfig }, { createLogger }, { TrustState }, { PeerConfigSchema }, { Peer }] =
        await Promise.all([
          import('../../core/config.js'),
          import('../../core/log.js'),
          import('../../core/trust.js'),
          import('../../peer/config.js'),
          import('../../peer/peer.js'),
        ]);
      const config = loadConfig(PeerConfigSchema, {
        file: flags.config,
        flags: {
          data: flags.data,
          listen: flags.listen,
          advertiseIp: flags.advertiseIp,
          scheduler: flags.scheduler,
          socket: flags.socket,
          seed: flags.seed,
          tlsDir: flags.tlsDir,
          opsListen: flags.opsListen,
          logLevel: flags.logLevel,
          'manager.address': flags.manager,
          'manager.cluster': flags.cluster,
        },
      });
      const log = createLogger({ level: config.logLevel, name: config.seed ? 'seed' : 'peer' });
      const manager = config.manager.address;
      // With a manager: its revocation list and blocklist, and certificate renewal through it.
      const peer = new Peer(config, log, manager ? { trust: new TrustState(), renewal: { manager } } : {});
      await peer.start();
      process.stdout.write(
        `${JSON.stringify({
          listening: `${peer.host.ip}:${peer.uploadPort}`,
          socket: peer.socketPath,
          ops: `127.0.0.1:${peer.opsPort}`,
          hostId: peer.host.id,
          ...(peer.proxyAddress ? { proxy: peer.proxyAddress } : {}),
          ...(peer.mirrorAddress ? { mirror: peer.mirrorAddress } : {}),
        })}\n`,
      );
      await untilSignal();
      await peer.stop();
    });
}
