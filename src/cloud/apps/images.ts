import { Client } from 'undici';
import { errorMessage, WarrenError } from '../../core/errors.js';
import { type PullResult, pullImage } from '../../core/oci/image-loader.js';
import type { Platform } from '../../core/oci/media-types.js';

/*
 * An app's images go into Docker Engine through the local peer's registry
 * mirror (core/oci/image-loader.ts): Docker never pulls anything itself, and
 * every blob is a P2P task checked against its digest. What the installer
 * records is the image id (the config digest), so a resumed install reuses
 * an image that is already loaded.
 */

export interface AppImages {
  /** Loads `reference` into the engine; returns the image id (sha256:…). */
  load(reference: string, signal?: AbortSignal): Promise<string>;
  /** True when the engine holds the image with this id. */
  has(imageId: string): Promise<boolean>;
}

export interface PeerImagesOptions {
  /** The local peer's registry mirror, e.g. http://127.0.0.1:5000. */
  mirror: string;
  /** Docker Engine's unix socket. */
  dockerSocket: string;
  platform?: Platform;
  /** Called after each pull (tests, progress logs). */
  onPulled?(reference: string, result: PullResult): void;
}

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

export class PeerImages implements AppImages {
  private readonly docker: Client;

  constructor(private readonly options: PeerImagesOptions) {
    this.docker = new Client('http://docker', {
      socketPath: options.dockerSocket,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  }

  async load(reference: string, signal?: AbortSignal): Promise<string> {
    const result = await pullImage({
      reference,
      mirror: this.options.mirror,
      dockerSocket: this.options.dockerSocket,
      ...(this.options.platform ? { platform: this.options.platform } : {}),
      ...(signal ? { signal } : {}),
    });
    this.options.onPulled?.(reference, result);
    if (!IMAGE_ID.test(result.imageId)) {
      throw new WarrenError(
        'IMAGE_ID_INVALID',
        `image ${reference} loaded with an id that is not sha256:…`,
        502,
      );
    }
    return result.imageId;
  }

  async has(imageId: string): Promise<boolean> {
    if (!IMAGE_ID.test(imageId)) return false;
    let res: Awaited<ReturnType<Client['request']>>;
    try {
      res = await this.docker.request({ method: 'GET', path: `/images/${imageId}/json` });
    } catch (err) {
      throw new WarrenError('DOCKER_UNREACHABLE', `Docker Engine did not answer: ${errorMessage(err)}`, 503);
    }
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new WarrenError('DOCKER_ERROR', `Docker answered ${res.statusCode} for image ${imageId}`, 502);
  }

  close(): Promise<void> {
    return this.docker.close();
  }
}
