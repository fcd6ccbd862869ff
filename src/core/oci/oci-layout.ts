import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/*
 * Images made without Docker, as OCI layouts (`skopeo copy oci:DIR:TAG …`
 * pushes them; `warren up` serves its sample app's image from one): each
 * layer a gzipped tar of the files given, written with fixed owners and
 * times so that the same files make the same layer digest.
 */

export interface LayerFile {
  path: string;
  data: Buffer;
  mode?: number;
}

export interface BuiltImage {
  dir: string;
  tag: string;
  /** The config's digest: the image ID Docker reports. */
  configDigest: string;
  manifestDigest: string;
  /** Every blob: config first, then the layers. */
  blobs: { digest: string; size: number }[];
  layers: { digest: string; size: number }[];
}

const digestOf = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A ustar archive of `files` (folders made for their parents), deterministic. */
export function tarOf(files: LayerFile[]): Buffer {
  const blocks: Buffer[] = [];
  const dirs = new Set<string>();
  for (const file of files) {
    const parts = file.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = `${parts.slice(0, i).join('/')}/`;
      if (!dirs.has(dir)) {
        dirs.add(dir);
        blocks.push(header(dir, 0, 0o755, '5'));
      }
    }
    blocks.push(header(file.path, file.data.length, file.mode ?? 0o644, '0'), file.data);
    const pad = (512 - (file.data.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function header(name: string, size: number, mode: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
  h.write('0000000\0', 108); // uid
  h.write('0000000\0', 116); // gid
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136); // mtime
  h.write('        ', 148); // checksum placeholder
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** Writes an OCI layout at `dir` holding one image (linux/amd64) of `layers` under `tag`. */
export async function buildOciImage(dir: string, tag: string, layers: LayerFile[][]): Promise<BuiltImage> {
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const put = async (data: Buffer) => {
    const digest = digestOf(data);
    await writeFile(join(blobDir, digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const diffIds: string[] = [];
  const layerBlobs: { digest: string; size: number }[] = [];
  for (const files of layers) {
    const tar = tarOf(files);
    diffIds.push(digestOf(tar));
    layerBlobs.push(await put(gzipSync(tar, { level: 1 })));
  }
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/busybox', 'true'], Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: diffIds.map(() => ({ created_by: 'warren', created: '1970-01-01T00:00:00Z' })),
      }),
    ),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layerBlobs.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    }),
  );
  const m = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...m,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return {
    dir,
    tag,
    configDigest: config.digest,
    manifestDigest: m.digest,
    blobs: [config, ...layerBlobs],
    layers: layerBlobs,
  };
}
