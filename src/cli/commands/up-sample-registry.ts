import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import { buildOciImage } from '../../core/oci/oci-layout.js';

/** The sample app's image, as `warren up`'s store lists it. */
export const SAMPLE_REPOSITORY = 'warren-sample/hello';
export const SAMPLE_TAG = '1.0.0';
export const SAMPLE_PAGE = 'Hello from a Warren app: installed from the store through the P2P network.';

export interface SampleRegistry {
  /** host:port, as the peers' `registries` and the sample compose file name it. */
  host: string;
  close(): Promise<void>;
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

/**
 * `warren up` has no internet: its sample app's image (Debian's static
 * busybox serving one page with `httpd`) is built here as an OCI layout and
 * served by this read-only registry on loopback — an origin like any other
 * registry: the peers fetch it back-to-source and the cloud pulls it through
 * the local peer's mirror. Without /bin/busybox (package busybox-static)
 * there is no sample image, and the install says the image is missing.
 */
export async function startSampleRegistry(options: {
  dir: string;
  host: string;
  port: number;
  log: Logger;
}): Promise<SampleRegistry | undefined> {
  if (!existsSync('/bin/busybox')) {
    options.log.warn("no /bin/busybox (Debian's busybox-static): the sample app's image is not available");
    return undefined;
  }
  const page = `<!doctype html><title>Hello</title><h1>${SAMPLE_PAGE}</h1>\n`;
  const image = await buildOciImage(options.dir, SAMPLE_TAG, [
    [{ path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 }],
    [{ path: 'www/index.html', data: Buffer.from(page) }],
  ]);
  const blobs = new Set([...image.blobs.map((b) => b.digest), image.manifestDigest]);
  const blobPath = (digest: string) => join(options.dir, 'blobs', 'sha256', digest.slice(7));
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: Buffer | string, type = 'application/json', extra = {}) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, '{"errors":[{"code":"UNSUPPORTED"}]}');
    if (path === '/v2/' || path === '/v2') return send(200, '{}');
    const manifest = new RegExp(`^/v2/${SAMPLE_REPOSITORY}/manifests/(.+)$`).exec(path);
    if (manifest && (manifest[1] === SAMPLE_TAG || manifest[1] === image.manifestDigest)) {
      return send(200, readFileSync(blobPath(image.manifestDigest)), MANIFEST_TYPE, {
        'docker-content-digest': image.manifestDigest,
      });
    }
    const blob = new RegExp(`^/v2/${SAMPLE_REPOSITORY}/blobs/(sha256:[0-9a-f]{64})$`).exec(path);
    if (blob && blobs.has(blob[1]!)) {
      return send(200, readFileSync(blobPath(blob[1]!)), 'application/octet-stream', {
        'docker-content-digest': blob[1],
      });
    }
    send(404, '{"errors":[{"code":"NAME_UNKNOWN","message":"not in the sample registry"}]}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return {
    host: `${options.host}:${options.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
