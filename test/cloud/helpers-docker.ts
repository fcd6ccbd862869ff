import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import type { AppDeployment } from '../../src/cloud/sandbox/types.js';
import { packRelease } from '../../src/core/release/pack.js';
import type { ValidatedRelease } from '../../src/core/release/types.js';
import type { Dockerd } from '../helpers/docker.js';
import { requireCommand, requireRoot } from '../helpers/skip.js';

/*
 * Test helpers for the cloud's sandbox on a real Docker Engine: a busybox
 * image made from Debian's static busybox (no registry), real release zips
 * packed and validated by src/core/release, and small read-backs.
 */

export const BUSYBOX_IMAGE = 'warren-test/busybox:1';

/** Skip reason (or a failure under CI) when a private dockerd with networks cannot run here. */
export function dockerSkip(): string | undefined {
  return (
    requireRoot() ??
    requireCommand('dockerd') ??
    requireCommand('docker') ??
    requireCommand('iptables') ??
    requireCommand('ip') ??
    requireCommand('busybox')
  );
}

/**
 * warren-test/busybox:1, `FROM scratch` with /bin/busybox and a link for
 * every applet (imported from a root-filesystem tarball). Returns its id.
 */
export async function buildBusyboxImage(dockerd: Dockerd, dir: string): Promise<string> {
  const root = join(dir, 'busybox-root');
  mkdirSync(join(root, 'bin'), { recursive: true });
  const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
  copyFileSync(busybox, join(root, 'bin', 'busybox'));
  const applets = spawnSync(busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const applet of applets) if (applet !== 'busybox') symlinkSync('busybox', join(root, 'bin', applet));
  mkdirSync(join(root, 'tmp'), { mode: 0o1777 });
  mkdirSync(join(root, 'etc'));
  writeFileSync(
    join(root, 'etc', 'passwd'),
    'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n',
  );
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  const tar = join(dir, 'busybox-root.tar');
  const packed = spawnSync('tar', ['-C', root, '-cf', tar, '.']);
  if (packed.status !== 0) throw new Error(`tar failed: ${packed.stderr}`);
  const imported = await dockerd.docker(['import', '--change', 'CMD ["/bin/sh"]', tar, BUSYBOX_IMAGE]);
  if (imported.code !== 0) throw new Error(`docker import failed: ${imported.stderr}`);
  const id = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', BUSYBOX_IMAGE]);
  return id.stdout.trim();
}

export interface TestApp {
  id: string;
  version?: string;
  mainService: string;
  internalPort: number;
  compose: Record<string, unknown>;
  resources?: Record<string, unknown>;
}

/** A real release zip (app.yml + docker-compose.yml) packed and validated like a maintainer's. */
export async function packTestRelease(dir: string, app: TestApp): Promise<ValidatedRelease> {
  const folder = join(dir, `${app.id}-${app.version ?? '1.0.0'}`);
  mkdirSync(folder, { recursive: true });
  const manifest = {
    id: app.id,
    name: app.id,
    version: app.version ?? '1.0.0',
    maintainer: 'Test',
    description: `The ${app.id} test app.`,
    main_service: app.mainService,
    internal_port: app.internalPort,
    url_path: '/',
    health_check_path: '/',
    ...(app.resources ? { resources: app.resources } : {}),
  };
  writeFileSync(join(folder, 'app.yml'), stringify(manifest));
  writeFileSync(join(folder, 'docker-compose.yml'), stringify(app.compose));
  return packRelease(folder, join(dir, `${app.id}-${app.version ?? '1.0.0'}.zip`));
}

/** Every service runs the given image id (all test services use busybox). */
export function deploymentOf(release: ValidatedRelease, imageId: string): AppDeployment {
  const services = Object.keys(release.compose['services'] as object);
  return { release, images: Object.fromEntries(services.map((s) => [s, imageId])) };
}

/** `docker inspect` of one object, parsed. */
export async function inspect(dockerd: Dockerd, kind: 'container' | 'network' | 'volume', name: string) {
  const out = await dockerd.docker([kind, 'inspect', name]);
  if (out.code !== 0) return undefined;
  // biome-ignore lint/suspicious/noExplicitAny: Docker's answer, read field by field in the tests
  return (JSON.parse(out.stdout) as any[])[0];
}

/** Runs `sh -c script` in a container; the exit code and output. */
export function execIn(dockerd: Dockerd, container: string, script: string, timeoutMs = 30_000) {
  return dockerd.docker(['exec', container, 'sh', '-c', script], timeoutMs);
}

/** GET http://host:port/ from the test process; the body, or undefined when nothing answers. */
export async function httpGet(host: string, port: number, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const res = await request(`http://${host}:${port}/`, {
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return await res.body.text();
  } catch {
    return undefined;
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} did not happen in ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
}

/** An httpd app: `web` serves a page from a named volume (read-only root), `worker` depends on it being healthy. */
export function httpdApp(id: string, page: string, extra: Partial<TestApp> = {}): TestApp {
  return {
    id,
    mainService: 'web',
    internalPort: 8080,
    compose: {
      services: {
        web: {
          image: BUSYBOX_IMAGE,
          command: ['sh', '-c', `echo ${page} > /www/index.html && exec httpd -f -v -p 8080 -h /www`],
          read_only: true,
          volumes: ['data:/www'],
          tmpfs: ['/tmp'],
          healthcheck: {
            test: 'nc -w 1 127.0.0.1 8080 < /dev/null',
            interval: '1s',
            timeout: '2s',
            retries: 30,
          },
          stop_grace_period: '1s',
        },
        worker: {
          image: BUSYBOX_IMAGE,
          command: 'sh -c \'echo worker up; trap "exit 0" TERM; while true; do sleep 1; done\'',
          depends_on: { web: { condition: 'service_healthy' } },
          environment: { ROLE: 'worker' },
          stop_grace_period: '2s',
        },
      },
      volumes: { data: null },
    },
    ...extra,
  };
}
