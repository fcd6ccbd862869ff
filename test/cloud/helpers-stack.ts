import assert from 'node:assert/strict';
import { copyFileSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { ZipFile } from 'yazl';
import type { InstallHooks } from '../../src/cloud/apps/install-steps.js';
import { createLogger, type Logger, silentLogger } from '../../src/core/log.js';
import { type BuiltImage, buildOciImage } from '../../src/core/oci/oci-layout.js';
import type { MaintainerKeyPair } from '../../src/core/release/keys.js';
import { packRelease } from '../../src/core/release/pack.js';
import { formatSignature, signRelease } from '../../src/core/release/signature.js';
import { bumpIndexGeneration } from '../../src/store/context.js';
import { Cluster, type PeerProcess } from '../e2e/cluster.js';
import { type Dockerd, startDockerd } from '../helpers/docker.js';
import { killAll } from '../helpers/processes.js';
import {
  freePort,
  pushImage,
  type Registry,
  type RegistryFront,
  startRegistry,
  startRegistryFront,
} from '../helpers/registry.js';
import { requireCommand, requireRoot } from '../helpers/skip.js';
import {
  makeMaintainer,
  signatureHeader,
  startTestStore,
  type TestMaintainer,
  type TestStore,
} from '../helpers/store.js';
import { makeTestCa } from '../helpers/tls.js';
import { tempDir } from '../helpers/tmp.js';
import { openTestCloud, type TestCloud } from './helpers-stack-cloud.js';

/*
 * The real pieces an install needs, for the cloud's install tests: a Store
 * (HTTPS, its own CA) with a maintainer, an HTTPS front before it that can
 * serve another index (a replay), a P2P cluster (scheduler, seed peer, and
 * the cloud's peer with its local API socket and registry mirror; both
 * trust the store's CA as an HTTPS origin), Debian's docker-registry
 * (behind a counting front) holding the app's image built without Docker
 * from /bin/busybox, and a private dockerd with bridge networks. newCloud()
 * opens the cloud's side on a data folder: database, index client, release
 * fetcher, image loader, sandbox, installer, and the console API in-process.
 */

export const APP_ID = 'hello';
export const PAGE = 'hello from a warren app';

/** Skip reason (a failure under CI) when the stack cannot run here. */
export function stackSkip(): string | undefined {
  return (
    requireRoot() ??
    requireCommand('dockerd') ??
    requireCommand('docker') ??
    requireCommand('iptables') ??
    requireCommand('docker-registry') ??
    requireCommand('skopeo')
  );
}

/** An HTTPS front before the store: passes GETs through, or serves another index when told. */
export interface StoreFront {
  url: string;
  /** Served as GET /api/v1/index instead of the store's while set. */
  index: string | undefined;
  /** Paths requested, in order. */
  hits: string[];
  close(): Promise<void>;
}

export interface CloudStack {
  dir: string;
  store: TestStore;
  front: StoreFront;
  caBundle: string;
  maintainer: TestMaintainer;
  registry: Registry;
  registryFront: RegistryFront;
  image: BuiltImage;
  imageRef: string;
  cluster: Cluster;
  peer: PeerProcess;
  mirror: string;
  dockerd: Dockerd;
  log: Logger;
  /** The compose file of the test app (busybox httpd serving PAGE on 8080). */
  compose(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Packs, signs and uploads a release through the store's API; its digest. */
  publish(version: string, compose?: Record<string, unknown>): Promise<{ sha256: string; zip: string }>;
  /**
   * Puts a release straight into the store's blob folder and database,
   * bypassing its upload checks (a compromised store), signed by `signer`.
   */
  inject(
    version: string,
    compose: Record<string, unknown>,
    signer: MaintainerKeyPair,
  ): Promise<{ sha256: string }>;
  newCloud(options?: { data?: string; hooks?: InstallHooks }): Promise<TestCloud>;
  stop(): Promise<void>;
}

export async function startCloudStack(): Promise<CloudStack> {
  const dir = tempDir('warren-cloud-stack-');
  const log = process.env.WARREN_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    await killAll();
  };
  try {
    const store = await startTestStore({ flags: { 'rateLimit.downloadsPerMinute': 10_000 } });
    stops.push(() => store.stop());
    const maintainer = await makeMaintainer(store, 'alice');
    const frontCa = await makeTestCa(join(dir, 'front-ca'));
    const front = await startStoreFront(store, frontCa);
    stops.push(() => front.close());
    const caBundle = join(dir, 'ca-bundle.pem');
    writeFileSync(caBundle, `${store.caPem.trim()}\n${frontCa.caPem.trim()}\n`);

    const registry = await startRegistry(join(dir, 'registry'));
    stops.push(() => registry.close());
    const registryFront = await startRegistryFront(registry);
    stops.push(() => registryFront.close());
    const image = await buildOciImage(join(dir, 'oci'), '1', [
      [{ path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 }],
      [{ path: 'www/index.html', data: Buffer.from(`${PAGE}\n`) }],
    ]);
    await pushImage(registry, image, 'warren/hello', dir);
    registryFront.reset();
    const imageRef = `${registryFront.host}/warren/hello:1`;

    const cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    const mirrorPort = await freePort();
    const peerConfig = (mirror: boolean) => {
      const path = join(dir, `peer-${mirror ? 'cloud' : 'seed'}.yaml`);
      writeFileSync(
        path,
        stringify({
          source: { caFile: caBundle },
          registries: [{ host: registryFront.host, url: `http://${registryFront.host}` }],
          ...(mirror ? { mirror: { listen: `127.0.0.1:${mirrorPort}` } } : {}),
        }),
      );
      return path;
    };
    await cluster.startPeer('seed-1', { seed: true, args: ['--config', peerConfig(false)] });
    const peer = await cluster.startPeer('cloud-peer', { args: ['--config', peerConfig(true)] });
    const mirror = `http://127.0.0.1:${mirrorPort}`;

    const dockerd = await startDockerd(join(dir, 'docker'), { networks: true });
    stops.push(() => dockerd.stop());

    const compose = (extra: Record<string, unknown> = {}) => ({
      services: {
        web: {
          image: imageRef,
          command: ['/bin/busybox', 'httpd', '-f', '-v', '-p', '8080', '-h', '/www'],
          read_only: true,
          volumes: ['data:/data'],
          stop_grace_period: '1s',
          ...extra,
        },
      },
      volumes: { data: null },
    });

    let releases = 0;
    const writeRelease = async (version: string, composeDoc: Record<string, unknown>, validate: boolean) => {
      const folder = join(dir, 'releases', `${version}-${releases++}`);
      mkdirSync(folder, { recursive: true });
      const files: Array<[string, string]> = [
        [
          'app.yml',
          stringify({
            id: APP_ID,
            name: 'Hello',
            version,
            maintainer: 'alice',
            description: 'A page served by busybox httpd.',
            main_service: 'web',
            internal_port: 8080,
            url_path: '/',
            health_check_path: '/',
          }),
        ],
        ['docker-compose.yml', stringify(composeDoc)],
      ];
      const zip = `${folder}.zip`;
      if (validate) {
        for (const [name, text] of files) writeFileSync(join(folder, name), text);
        await packRelease(folder, zip);
      } else {
        // As a compromised store would have it: never through the validator.
        const z = new ZipFile();
        for (const [name, text] of files)
          z.addBuffer(Buffer.from(text), name, { mtime: new Date(1980, 0, 1) });
        z.end();
        await pipeline(z.outputStream, createWriteStream(zip));
      }
      return zip;
    };

    const stack: CloudStack = {
      dir,
      store,
      front,
      caBundle,
      maintainer,
      registry,
      registryFront,
      image,
      imageRef,
      cluster,
      peer,
      mirror,
      dockerd,
      log,
      compose,
      async publish(version, composeDoc = compose()) {
        const zip = await writeRelease(version, composeDoc, true);
        const res = await store.call('POST', '/api/v1/releases', {
          token: maintainer.token,
          raw: readFileSync(zip),
          headers: { 'x-warren-signature': await signatureHeader(zip, maintainer.keys, APP_ID, version) },
        });
        assert.equal(res.status, 201, res.text);
        return { sha256: res.body.sha256 as string, zip };
      },
      async inject(version, composeDoc, signer) {
        const zip = await writeRelease(version, composeDoc, false);
        const sig = await signRelease(zip, signer.privateKey, { id: APP_ID, version });
        const ctx = store.store.ctx;
        copyFileSync(zip, ctx.blobs.pathOf(sig.sha256));
        await ctx.db.transaction().execute(async (trx) => {
          await trx
            .insertInto('releases')
            .values({
              app_id: APP_ID,
              version,
              sha256: sig.sha256,
              size: readFileSync(zip).length,
              signature: formatSignature(sig),
              published_by: 'alice',
              published_at: new Date().toISOString(),
              yanked_at: null,
              yanked_by: null,
            })
            .execute();
          await bumpIndexGeneration(trx);
        });
        return { sha256: sig.sha256 };
      },
      newCloud: (options = {}) => openTestCloud(stack, options),
      stop,
    };
    return stack;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startStoreFront(
  store: TestStore,
  ca: Awaited<ReturnType<typeof makeTestCa>>,
): Promise<StoreFront> {
  const cert = await ca.issue('store', 'store-front', { hosts: ['127.0.0.1'] });
  const upstream = new Agent({ connect: { ca: store.caPem } });
  const front: StoreFront = { url: '', index: undefined, hits: [], close: async () => {} };
  const server: Server = createServer({ cert: cert.material.cert, key: cert.material.key }, (req, res) => {
    front.hits.push(req.url ?? '');
    if (req.url === '/api/v1/index' && front.index !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(front.index);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['range', 'if-none-match', 'accept']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    request(`${store.url}${req.url}`, { method: 'GET', headers, dispatcher: upstream })
      .then(async (answer) => {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (
            typeof value === 'string' &&
            !['connection', 'keep-alive', 'transfer-encoding'].includes(name)
          ) {
            out[name] = value;
          }
        }
        res.writeHead(answer.statusCode, out);
        await pipeline(answer.body, res);
      })
      .catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  front.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  front.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await upstream.close();
  };
  return front;
}
