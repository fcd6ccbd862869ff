import { X509Certificate } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import type { Manager } from '../../manager/manager.js';
import type { Store } from '../../store/store.js';

/** The demo maintainer `warren up` makes, and the sample app it publishes. */
export const DEMO_MAINTAINER = 'demo';
export const SAMPLE_APP = { id: 'hello', version: '1.0.0' };

/**
 * `warren up`'s store: HTTPS with a certificate from the manager's CA (role
 * store), data in `<data>/store`. On the first start it also makes a demo
 * maintainer (key in `<data>/store/demo-maintainer/`, password beside it,
 * 0600) and publishes a sample app signed with that key, through the same
 * upload pipeline as `warren app publish`.
 */
export async function startUpStore(options: {
  data: string;
  host: string;
  port: number;
  manager: Manager;
  logLevel: string;
  log: Logger;
  /** The sample app's image reference (up-sample-registry.ts serves it). */
  sampleImage: string;
}): Promise<Store> {
  const [{ loadConfig }, tls, { StoreConfigSchema }, { Store }] = await Promise.all([
    import('../../core/config.js'),
    import('../../core/tls.js'),
    import('../../store/config.js'),
    import('../../store/store.js'),
  ]);
  const dir = join(options.data, 'store');
  const tlsDir = join(dir, 'tls');
  if (!certificateStillGood(join(tlsDir, tls.TLS_FILES.cert), options.manager.ctx.ca.caPem)) {
    const issued = await options.manager.ctx.ca.issue({
      name: 'store',
      role: 'store',
      hosts: [options.host],
      lifetimeMs: options.manager.settings.certificateLifetimeMs,
    });
    tls.writeTlsDir(tlsDir, issued);
  }
  const store = new Store({
    config: loadConfig(StoreConfigSchema, {
      flags: {
        data: dir,
        listen: `${options.host}:${options.port}`,
        'tls.certFile': join(tlsDir, tls.TLS_FILES.cert),
        'tls.keyFile': join(tlsDir, tls.TLS_FILES.key),
        logLevel: options.logLevel,
      },
    }),
    logger: options.log,
  });
  await store.start();
  if (!(await store.ctx.accounts.byName(DEMO_MAINTAINER)))
    await publishSample(store, dir, options.sampleImage);
  return store;
}

/**
 * A certificate the store can keep using: issued by this CA with more than a
 * third of a week left (the store has no renewal loop: each start of `warren
 * up` renews it when due).
 */
function certificateStillGood(path: string, caPem: string): boolean {
  if (!existsSync(path)) return false;
  const cert = new X509Certificate(readFileSync(path));
  return (
    cert.checkIssued(new X509Certificate(caPem)) &&
    Date.parse(cert.validTo) - Date.now() > (7 * 86_400_000) / 3
  );
}

async function publishSample(store: Store, dir: string, image: string): Promise<void> {
  const [
    { generateMaintainerKey, readPrivateKey, writeKeyPair },
    { newOneTimePassword },
    { packRelease },
    signing,
    { publishRelease },
  ] = await Promise.all([
    import('../../core/release/keys.js'),
    import('../../core/auth/secrets.js'),
    import('../../core/release/pack.js'),
    import('../../core/release/signature.js'),
    import('../../store/releases/publish.js'),
  ]);
  const ctx = store.ctx;
  const keyDir = join(dir, 'demo-maintainer');
  await mkdir(keyDir, { recursive: true, mode: 0o700 });
  const paths = { privateKey: join(keyDir, 'maintainer.key'), publicKey: join(keyDir, 'maintainer.pub') };
  if (!existsSync(paths.privateKey)) await writeKeyPair(paths, generateMaintainerKey(), 'demo@warren-up');
  const key = await readPrivateKey(paths.privateKey);
  const password = newOneTimePassword();
  await writeFile(join(keyDir, 'password'), `${password}\n`, { mode: 0o600 });
  const { code } = await ctx.accounts.invite('system');
  const demo = await ctx.accounts.register({
    name: DEMO_MAINTAINER,
    password,
    publicKey: readFileSync(paths.publicKey, 'utf8'),
    invitation: code,
  });
  await ctx.accounts.setOfficial(DEMO_MAINTAINER, true);

  const src = join(keyDir, 'sample-app');
  await mkdir(src, { recursive: true });
  await writeFile(
    join(src, 'app.yml'),
    [
      `id: ${SAMPLE_APP.id}`,
      'name: Hello',
      `version: ${SAMPLE_APP.version}`,
      'maintainer: demo',
      'description: the sample app warren up publishes',
      'main_service: web',
      'internal_port: 8080',
      'url_path: /',
      'health_check_path: /',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(src, 'docker-compose.yml'),
    [
      'services:',
      '  web:',
      `    image: ${image}`,
      '    command: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]',
      '    read_only: true',
      '',
    ].join('\n'),
  );
  const zip = join(keyDir, `${SAMPLE_APP.id}-${SAMPLE_APP.version}.zip`);
  const release = await packRelease(src, zip);
  const sig = signing.signReleaseDigest(release.sha256, key, release.manifest);
  await signing.writeSignature(`${zip}.sig`, sig);
  await publishRelease(
    ctx,
    {
      principal: {
        kind: 'token',
        maintainerId: demo.id,
        name: demo.name,
        admin: false,
        official: true,
        credentialId: 'warren-up',
      },
      body: createReadStream(zip),
      signatureHeader: Buffer.from(signing.formatSignature(sig)).toString('base64'),
      declaredBytes: release.zipBytes,
      address: 'local',
    },
    {},
  );
}
