import { existsSync } from 'node:fs';
import type { MultiBar, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import type { PullResult, ResolvedImage } from '../../core/oci/image-loader.js';
import type { Platform } from '../../core/oci/media-types.js';
import { formatBytes } from '../../core/units.js';

export const DEFAULT_MIRROR = 'http://127.0.0.1:5000';
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

interface PullFlags {
  platform: string;
  load: boolean;
  mirror: string;
  dockerSocket?: string;
  json?: boolean;
}

/** `warren image pull REF`: an image through the local peer, into Docker Engine. */
export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('container images through the local peer');
  image
    .command('pull <reference>')
    .description(
      "pull an image through the local peer's registry mirror (P2P, every blob checked) and load it into Docker: Docker never contacts a registry",
    )
    .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index', 'linux/amd64')
    .option('--no-load', 'only pull it through the peer (cached and checked), do not load it into Docker')
    .option('--mirror <url>', "the local peer's registry mirror (mirror.listen)", DEFAULT_MIRROR)
    .option(
      '--docker-socket <path>',
      `Docker Engine's socket (default ${DEFAULT_DOCKER_SOCKET}, if it exists)`,
    )
    .option('--json', 'print a machine-readable result and no progress')
    .action(async (reference: string, flags: PullFlags) => {
      const result = await pull(reference, flags);
      if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        const name = result.repoTags[0] ?? result.manifestDigest;
        const where = result.loaded ? 'loaded into Docker' : 'pulled through the peer (not loaded)';
        process.stdout.write(`${name}: ${where}, image ${result.imageId}\n`);
      }
    });
}

async function pull(reference: string, flags: PullFlags) {
  const platform = parsePlatform(flags.platform);
  let dockerSocket: string | undefined;
  if (flags.load) {
    dockerSocket =
      flags.dockerSocket ?? (existsSync(DEFAULT_DOCKER_SOCKET) ? DEFAULT_DOCKER_SOCKET : undefined);
    if (!dockerSocket && !flags.json) {
      process.stderr.write(`no Docker socket at ${DEFAULT_DOCKER_SOCKET}: pulling through the peer only\n`);
    }
  }
  const progress = flags.json ? undefined : process.stderr.isTTY ? await barProgress() : plainProgress();
  const { pullImage } = await import('../../core/oci/image-loader.js');
  const started = performance.now();
  try {
    const result: PullResult = await pullImage({
      reference,
      mirror: flags.mirror,
      platform,
      dockerSocket,
      onImage: (image) => progress?.start(image),
      onProgress: (digest, done) => progress?.update(digest, done),
    });
    progress?.stop();
    const seconds = (performance.now() - started) / 1000;
    return {
      reference: result.reference,
      manifestDigest: result.manifestDigest,
      imageId: result.imageId,
      repoTags: result.repoTags,
      layers: result.layers.map((l) => ({ digest: l.digest, size: l.size })),
      bytes: [result.config, ...result.layers].reduce((sum, d) => sum + d.size, 0),
      loaded: result.loaded,
      dockerMessages: result.dockerMessages,
      seconds: Number(seconds.toFixed(3)),
    };
  } catch (err) {
    progress?.stop();
    throw err;
  }
}

function parsePlatform(value: string): Platform {
  const [os, architecture, variant, extra] = value.split('/');
  if (!os || !architecture || extra !== undefined) {
    throw new WarrenError('BAD_PLATFORM', `platform '${value}' is not os/arch or os/arch/variant`, 400);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

interface Progress {
  start(image: ResolvedImage): void;
  update(digest: string, done: number): void;
  stop(): void;
}

const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);

/** A bar per layer and one for the total, on a terminal. */
async function barProgress(): Promise<Progress> {
  const { MultiBar, Presets } = await import('cli-progress');
  let multi: MultiBar | undefined;
  const bars = new Map<string, SingleBar>();
  const done = new Map<string, number>();
  let total: SingleBar | undefined;
  return {
    start(image) {
      multi = new MultiBar(
        {
          format: '{name} {bar} {percentage}% | {value}/{total}',
          formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? formatBytes(v) : String(v)),
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
        },
        Presets.shades_classic,
      );
      for (const layer of image.layers) {
        bars.set(layer.digest, multi.create(layer.size, 0, { name: short(layer.digest) }));
      }
      const size = [image.config, ...image.layers].reduce((sum, d) => sum + d.size, 0);
      total = multi.create(size, 0, { name: 'total       ' });
    },
    update(digest, bytes) {
      done.set(digest, bytes);
      bars.get(digest)?.update(bytes);
      const sum = [...done.values()].reduce((a, b) => a + b, 0);
      total?.update(sum);
    },
    stop() {
      multi?.stop();
    },
  };
}

/** Plain lines when stderr is not a terminal: the image, then each blob as it completes, then the total. */
function plainProgress(): Progress {
  const sizes = new Map<string, number>();
  let layers: string[] = [];
  let total = 0;
  let sum = 0;
  return {
    start(image) {
      layers = image.layers.map((l) => l.digest);
      for (const d of [image.config, ...image.layers]) sizes.set(d.digest, d.size);
      total = [...sizes.values()].reduce((a, b) => a + b, 0);
      process.stderr.write(
        `${image.repoTags[0] ?? image.manifestDigest}: manifest ${image.manifestDigest}, ${layers.length} layers, ${formatBytes(total)}\n`,
      );
    },
    update(digest, bytes) {
      if (bytes !== sizes.get(digest)) return;
      sum += bytes;
      const index = layers.indexOf(digest);
      const what = index < 0 ? 'config' : `layer ${index + 1}/${layers.length}`;
      process.stderr.write(
        `${what} ${short(digest)} ${formatBytes(bytes)} done (total ${formatBytes(sum)}/${formatBytes(total)})\n`,
      );
    },
    stop() {},
  };
}
