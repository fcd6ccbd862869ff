import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CertificateAuthority } from '../../manager/ca/authority.js';
import { untilSignal } from '../role-options.js';

interface UpFlags {
  data: string;
  host: string;
  logLevel: string;
}

/** Fixed, documented ports of the all-in-one (docs/operations.md). */
export const UP_PORTS = {
  manager: 8443,
  managerRpc: 8003,
  managerOps: 9003,
  scheduler: 8002,
  schedulerOps: 9002,
  seed: 4101,
  seedOps: 9101,
  peer: 4100,
  peerOps: 9100,
  /** The local peer's OCI registry mirror (Docker registry-mirrors, containerd hosts.toml). */
  mirror: 5000,
  /** The app store (HTTPS, certificate from the manager's CA). */
  store: 8444,
  /** The read-only registry holding the sample app's image (up-sample-registry.ts). */
  sampleRegistry: 5001,
  /** The cloud's gateway: console https://warren.localhost:9443, apps https://<app>.warren.localhost:9443. */
  cloud: 9443,
};

type ComponentRole = 'scheduler' | 'seed' | 'peer';

/**
 * `warren up`: the whole distribution plane on one machine, in one process —
 * the manager (SQLite, built-in CA), a scheduler, a seed peer and a local
 * peer. The manager enrols the other three (certificates from its CA, renewed
 * through it at two thirds of their life); they find each other through it.
 * On first start it prints root's one-time password. The app store runs
 * beside them with a demo maintainer and a sample app (up-store.ts), and
 * the cloud (up-cloud.ts) installs apps from it through the local peer.
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
        { TrustState },
        { ManagerConfigSchema },
        { Manager },
        { PeerConfigSchema },
        { Peer },
        { Scheduler },
        { SchedulerConfigSchema },
      ] = await Promise.all([
        import('../../core/config.js'),
        import('../../core/log.js'),
        import('../../core/tls.js'),
        import('../../core/trust.js'),
        import('../../manager/config.js'),
        import('../../manager/manager.js'),
        import('../../peer/config.js'),
        import('../../peer/peer.js'),
        import('../../scheduler/scheduler.js'),
        import('../../scheduler/config.js'),
      ]);
      const data = resolve(flags.data);
      const log = createLogger({ level: flags.logLevel, name: 'up' });
      const at = (port: number) => `${flags.host}:${port}`;
      const manager = new Manager({
        config: loadConfig(ManagerConfigSchema, {
          flags: {
            data: join(data, 'manager'),
            listen: at(UP_PORTS.manager),
            rpcListen: at(UP_PORTS.managerRpc),
            opsListen: at(UP_PORTS.managerOps),
            logLevel: flags.logLevel,
          },
        }),
        logger: log.child({ role: 'manager' }),
      });
      const managerAddresses = await manager.start();
      const rootPassword = manager.initialRootPassword;

      const name =
        hostname()
          .replace(/[^A-Za-z0-9._-]/g, '-')
          .slice(0, 40) || 'local';
      const enrol = async (role: ComponentRole) => {
        const dir = join(data, role, 'tls');
        if (!(await stillEnrolled(manager.ctx.ca, dir, tls.TLS_FILES.cert))) {
          const issued = await manager.ctx.ca.issue({
            name: `${role}-${name}`,
            role,
            hosts: [flags.host],
            lifetimeMs: manager.settings.certificateLifetimeMs,
          });
          tls.writeTlsDir(dir, issued);
        }
        return dir;
      };

      const schedulerTls = await enrol('scheduler');
      const schedulerConfig = loadConfig(SchedulerConfigSchema, {
        flags: {
          listen: at(UP_PORTS.scheduler),
          opsListen: at(UP_PORTS.schedulerOps),
          tlsDir: schedulerTls,
          'manager.address': managerAddresses.rpc,
        },
      });
      const scheduler = new Scheduler({
        config: schedulerConfig,
        tls: tls.loadTlsDir(schedulerTls),
        logger: log.child({ role: 'scheduler' }),
        trust: new TrustState(),
        renewal: { manager: managerAddresses.rpc },
      });
      await scheduler.start();
      const { startSampleRegistry, SAMPLE_REPOSITORY, SAMPLE_TAG } = await import('./up-sample-registry.js');
      const sampleRegistry = await startSampleRegistry({
        dir: join(data, 'sample-image'),
        host: flags.host,
        port: UP_PORTS.sampleRegistry,
        log,
      });
      const sampleRegistries = sampleRegistry
        ? [{ host: sampleRegistry.host, url: `http://${sampleRegistry.host}` }]
        : [];
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
            'manager.address': managerAddresses.rpc,
            tlsDir: await enrol(role),
            seed: role === 'seed',
            // Docker Hub, anonymously (docs/images.md); the seed fetches blobs from it too.
            registries: [{ host: 'docker.io' }, ...sampleRegistries],
            // The store's certificate comes from the manager's CA: seed peers fetch releases from it.
            'source.caFile': join(data, 'manager', 'ca', 'ca.crt'),
            ...(role === 'peer' ? { 'mirror.listen': at(UP_PORTS.mirror) } : {}),
          },
        });
        const peer = new Peer(config, log.child({ role }), {
          trust: new TrustState(),
          renewal: { manager: managerAddresses.rpc },
        });
        await peer.start();
        peers.push(peer);
      }
      const socket = peers[1]!.socketPath;
      const caFile = join(data, 'manager', 'ca', 'ca.crt');
      const { startUpStore } = await import('./up-store.js');
      const store = await startUpStore({
        data,
        host: flags.host,
        port: UP_PORTS.store,
        manager,
        logLevel: flags.logLevel,
        log: log.child({ role: 'store' }),
        sampleImage: `${at(UP_PORTS.sampleRegistry)}/${SAMPLE_REPOSITORY}:${SAMPLE_TAG}`,
      });
      const { startUpCloud } = await import('./up-cloud.js');
      const { cloud, started } = await startUpCloud({
        data,
        host: flags.host,
        port: UP_PORTS.cloud,
        storeUrl: store.address,
        caFile,
        peerSocket: socket,
        mirror: at(UP_PORTS.mirror),
        logLevel: flags.logLevel,
        log: log.child({ role: 'cloud' }),
      });
      const cloudPassword = cloud.initialAdminPassword;
      const adminPassword = store.initialAdminPassword;
      process.stdout.write(
        [
          'Warren is up.',
          `  manager     ${managerAddresses.api} (REST)   RPC ${managerAddresses.rpc} (mTLS)   metrics http://${managerAddresses.ops}/metrics`,
          `  scheduler   ${at(UP_PORTS.scheduler)} (mTLS)   metrics http://${at(UP_PORTS.schedulerOps)}/metrics`,
          `  seed peer   ${at(UP_PORTS.seed)} (mTLS)   metrics http://${at(UP_PORTS.seedOps)}/metrics`,
          `  peer        ${at(UP_PORTS.peer)} (mTLS)   metrics http://${at(UP_PORTS.peerOps)}/metrics`,
          `  local API   ${socket} (mode 0600)`,
          `  mirror      http://${at(UP_PORTS.mirror)} (OCI registry mirror of Docker Hub, docs/images.md)`,
          `  store       ${store.address} (REST)   index key ${store.ctx.key.keyId} (${join(data, 'store', 'store-key.pub')})`,
          `  cloud       ${started.console} (console; apps at https://<app>.${cloud.settings.domain}:${UP_PORTS.cloud}, self-signed certificate)`,
          `  docker      ${started.docker.message}`,
          `  CA          ${caFile}`,
          '',
          ...(cloudPassword
            ? [
                `First start: cloud admin 'admin', one-time password ${cloudPassword}`,
                `  (shown only now; sign in at ${started.console}, change it, then Store > hello > Install)`,
                '',
              ]
            : []),
          ...(rootPassword
            ? [
                `First start: user 'root', one-time password ${rootPassword}`,
                '  (shown only now; the first login must change it)',
                `  ./bin/warren login --manager ${managerAddresses.api} --ca-file ${caFile} --user root`,
                '',
              ]
            : []),
          ...(adminPassword
            ? [`First start: store admin 'admin', one-time password ${adminPassword} (shown only now)`, '']
            : []),
          'The store, with the sample app the demo maintainer published:',
          `  curl --cacert ${caFile} ${store.address}/api/v1/apps`,
          `  ./bin/warren app fetch hello --store ${store.address} --ca ${caFile} --store-key ${join(data, 'store', 'store-key.pub')} --state index-state.json`,
          '',
          'Download a file through the P2P network:',
          `  ./bin/warren get https://example.org/file.iso -O file.iso --socket ${socket}`,
          `  ./bin/warren task ls --socket ${socket}`,
          '',
        ].join('\n'),
      );
      await untilSignal();
      await cloud.stop();
      await store.stop();
      await sampleRegistry?.close();
      for (const peer of peers.reverse()) await peer.stop();
      await scheduler.stop();
      await manager.stop();
    });
}

/**
 * True when `dir` holds a certificate this manager issued and still vouches
 * for (recorded, not revoked, not expired). One past two thirds of its life is
 * kept: the component renews it through the manager as soon as it starts.
 */
async function stillEnrolled(ca: CertificateAuthority, dir: string, certFile: string): Promise<boolean> {
  const path = join(dir, certFile);
  if (!existsSync(path)) return false;
  const cert = new X509Certificate(readFileSync(path));
  if (!cert.checkIssued(new X509Certificate(ca.caPem)) || Date.now() >= Date.parse(cert.validTo))
    return false;
  const row = await ca.certificate(cert.serialNumber);
  return row !== undefined && row.revoked_at === null;
}
