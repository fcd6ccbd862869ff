import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { untilSignal } from '../role-options.js';

interface UpFlags {
  data: string;
  host: string;
  logLevel: string;
}

/** Fixed, documented ports of the all-in-one (docs/operations.md). */
export const UP_PORTS = {
  scheduler: 8002,
  schedulerOps: 9002,
  seed: 4101,
  seedOps: 9101,
  peer: 4100,
  peerOps: 9100,
};

/**
 * `warren up`: the whole distribution plane on one machine — a scheduler, a
 * seed peer and a local peer in one process — with a CA and certificates
 * made on first start. Later roles (manager, store, cloud) join it here.
 */
export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('run everything on this machine (data in ./warren-data)')
    .option('--data <dir>', 'data folder', 'warren-data')
    .option('--host <ip>', 'address the roles listen on', '127.0.0.1')
    .option('--log-level <level>', 'log level', 'info')
    .action(async (flags: UpFlags) => {
      const [
        { loadConfig },
        { createLogger },
        tls,
        { PeerConfigSchema },
        { Peer },
        { Scheduler },
        { SchedulerConfigSchema },
      ] = await Promise.all([
        import('../../core/config.js'),
        import('../../core/log.js'),
        import('../../core/tls.js'),
        import('../../peer/config.js'),
        import('../../peer/peer.js'),
        import('../../scheduler/scheduler.js'),
        import('../../scheduler/config.js'),
      ]);
      const data = resolve(flags.data);
      const caDir = join(data, 'ca');
      const log = createLogger({ level: flags.logLevel, name: 'up' });
      if (!existsSync(join(caDir, tls.TLS_FILES.caKey))) {
        await tls.initCa(caDir);
        log.info({ caDir }, 'created a new CA');
      }
      const name =
        hostname()
          .replace(/[^A-Za-z0-9._-]/g, '-')
          .slice(0, 40) || 'local';
      const certs = {
        scheduler: await ensureCertificate(
          tls,
          caDir,
          join(data, 'scheduler', 'tls'),
          'scheduler',
          `scheduler-${name}`,
        ),
        seed: await ensureCertificate(tls, caDir, join(data, 'seed', 'tls'), 'seed', `seed-${name}`),
        peer: await ensureCertificate(tls, caDir, join(data, 'peer', 'tls'), 'peer', `peer-${name}`),
      };
      const at = (port: number) => `${flags.host}:${port}`;
      const schedulerConfig = loadConfig(SchedulerConfigSchema, {
        flags: {
          listen: at(UP_PORTS.scheduler),
          opsListen: at(UP_PORTS.schedulerOps),
          tlsDir: certs.scheduler,
        },
      });
      const scheduler = new Scheduler({
        config: schedulerConfig,
        tls: tls.loadTlsDir(certs.scheduler),
        logger: log.child({ role: 'scheduler' }),
      });
      await scheduler.start();
      const peers = [];
      for (const [role, port, ops] of [
        ['seed', UP_PORTS.seed, UP_PORTS.seedOps],
        ['peer', UP_PORTS.peer, UP_PORTS.peerOps],
      ] as const) {
        const config = loadConfig(PeerConfigSchema, {
          flags: {
            data: join(data, role),
            listen: at(port),
            opsListen: at(ops),
            scheduler: at(UP_PORTS.scheduler),
            tlsDir: certs[role],
            seed: role === 'seed',
          },
        });
        const peer = new Peer(config, log.child({ role }));
        await peer.start();
        peers.push(peer);
      }
      const socket = peers[1]!.socketPath;
      process.stdout.write(
        [
          'Warren is up.',
          `  scheduler   ${at(UP_PORTS.scheduler)} (mTLS)   metrics http://${at(UP_PORTS.schedulerOps)}/metrics`,
          `  seed peer   ${at(UP_PORTS.seed)} (mTLS)   metrics http://${at(UP_PORTS.seedOps)}/metrics`,
          `  peer        ${at(UP_PORTS.peer)} (mTLS)   metrics http://${at(UP_PORTS.peerOps)}/metrics`,
          `  local API   ${socket} (mode 0600)`,
          '',
          'Download a file through the P2P network:',
          `  ./bin/warren get https://example.org/file.iso -O file.iso --socket ${socket}`,
          `  ./bin/warren task ls --socket ${socket}`,
          '',
        ].join('\n'),
      );
      await untilSignal();
      for (const peer of peers.reverse()) await peer.stop();
      await scheduler.stop();
    });
}

type Tls = typeof import('../../core/tls.js');

/**
 * Issues a certificate into `dir` unless a valid one is there with more than
 * a third of its life left; returns `dir`.
 */
async function ensureCertificate(
  tls: Tls,
  caDir: string,
  dir: string,
  role: 'scheduler' | 'seed' | 'peer',
  name: string,
) {
  const certFile = join(dir, tls.TLS_FILES.cert);
  if (existsSync(certFile)) {
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(readFileSync(certFile));
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    const ca = new X509Certificate(readFileSync(join(caDir, tls.TLS_FILES.ca)));
    if (cert.checkIssued(ca) && Date.now() < to - (to - from) / 3) return dir;
  }
  tls.writeTlsDir(dir, await tls.issueCertificate(caDir, { role, name }));
  return dir;
}
