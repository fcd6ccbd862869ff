import { WarrenError } from '../../core/errors.js';
import { type PullResult, pullImage } from '../../core/oci/image-loader.js';
import type { Platform } from '../../core/oci/media-types.js';
import type { DockerEngine } from '../docker/engine.js';

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
  /** Docker Engine's unix socket (the image loader posts the image to it). */
  dockerSocket: string;
  /** The Engine API client (is an image there?). */
  engine: Pick<DockerEngine, 'imageInspect'>;
  platform?: Platform;
  /** Called after each pull (tests, progress logs). */
  onPulled?(reference: string, result: PullResult): void;
}

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

export class PeerImages implements AppImages {
  constructor(private readonly options: PeerImagesOptions) {}

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
    return (await this.options.engine.imageInspect(imageId)) !== undefined;
  }

  /** Nothing of its own to close: the engine client is the sandbox's. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
