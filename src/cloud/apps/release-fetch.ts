import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkUpdate,
  type InstalledRelease,
  type VerifiedRelease,
  verifyFetchedRelease,
} from '../../core/release/fetched.js';
import { MAX_SIGNATURE_FILE } from '../../core/release/signature.js';
import {
  type IndexApp,
  type IndexVersion,
  releaseInIndex,
  type StoreIndex,
} from '../../core/release/store-index.js';
import { DEFAULT_RELEASE_LIMITS, ReleaseError } from '../../core/release/types.js';
import type { PeerApiClient } from './peer-client.js';

/*
 * A release, fetched THROUGH THE LOCAL PEER by the digest the verified index
 * lists (so a thousand instances fetch about one copy from the store, and
 * the peer checks every piece and the whole against the digest), streamed to
 * a temporary file under <data>/releases with the size bound, hashed again,
 * then every check of core/release/fetched.ts: digest in the index and not
 * yanked, the validator again (an instance never trusts the store's), the
 * signature against the maintainer key the index binds, and for an update
 * the same key and no downgrade. The signature file comes straight from the
 * store (see StoreIndexClient.signature for why).
 *
 * An installed app's zip and signature are kept under
 * <data>/releases/<sha256>.zip|.sig, so that a restart can re-verify and
 * resume without the network.
 */

export interface ReleaseSource {
  releaseUrl(sha256: string): string;
  signature(sha256: string): Promise<string>;
}

export interface ReleaseFetcherOptions {
  /** The cloud's data folder: releases go to <data>/releases. */
  dataDir: string;
  peer: PeerApiClient;
  store: ReleaseSource;
  /** Largest release zip (default 10 MiB, the format's). */
  maxZipBytes?: number;
}

/** A verified release and where its bytes are. */
export interface FetchedRelease extends VerifiedRelease {
  zipPath: string;
  signatureText: string;
  /** The peer task the zip came from (absent when re-verified from the kept copy). */
  peerTaskId?: string;
}

const HEX = /^[0-9a-f]{64}$/;

/** The index's entry for an app version, before anything is downloaded: listed and not yanked. */
export function listedRelease(
  index: StoreIndex,
  appId: string,
  version: string,
): { app: IndexApp; version: IndexVersion } {
  const app = index.apps.find((a) => a.id === appId);
  const listed = app?.versions.find((v) => v.version === version);
  if (!app || !listed) {
    throw new ReleaseError(
      'RELEASE_NOT_IN_INDEX',
      `release ${appId} ${version}`,
      `is not in the store index (serial ${index.serial})`,
    );
  }
  return releaseInIndex(index, { appId, version, sha256: listed.sha256 });
}

export class ReleaseFetcher {
  readonly dir: string;
  private readonly maxZipBytes: number;

  constructor(private readonly options: ReleaseFetcherOptions) {
    this.dir = join(options.dataDir, 'releases');
    this.maxZipBytes = options.maxZipBytes ?? DEFAULT_RELEASE_LIMITS.maxZipBytes;
  }

  /** Makes the folder and removes temporary files a crash left. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('tmp-')) await rm(join(this.dir, name), { force: true });
    }
  }

  /**
   * Fetches `appId` `version` as `index` lists it, through the peer, and
   * verifies it. The zip is left in a temporary file: {@link keep} or
   * {@link discard} it. Throws the refusal's ReleaseError/WarrenError.
   */
  async fetch(
    index: StoreIndex,
    appId: string,
    version: string,
    installed?: InstalledRelease,
    signal?: AbortSignal,
  ): Promise<FetchedRelease> {
    const listed = listedRelease(index, appId, version);
    // Fail fast, before any download, on an update the index already shows as refused.
    checkUpdate(installed, { appId, version, maintainerKey: listed.app.maintainer_key });
    const sha256 = listed.version.sha256;
    const zipPath = join(this.dir, `tmp-${randomBytes(8).toString('hex')}.zip`);
    try {
      const downloaded = await this.options.peer.downloadToFile(
        { url: this.options.store.releaseUrl(sha256), digest: `sha256:${sha256}` },
        zipPath,
        this.maxZipBytes,
        signal,
      );
      const signatureText = await this.options.store.signature(sha256);
      const verified = await verifyFetchedRelease(
        index,
        { appId, version, zipPath, sha256: downloaded.sha256, signatureText },
        { installed, limits: { maxZipBytes: this.maxZipBytes } },
      );
      return { ...verified, zipPath, signatureText, peerTaskId: downloaded.taskId };
    } catch (err) {
      await unlink(zipPath).catch(() => {});
      throw err;
    }
  }

  /** Moves a fetched release's zip and signature to <data>/releases/<sha256>.zip|.sig. */
  async keep(fetched: FetchedRelease): Promise<FetchedRelease> {
    const sha256 = fetched.release.sha256;
    const zipPath = this.pathOf(sha256, 'zip');
    if (fetched.zipPath !== zipPath) {
      const sigTemp = join(this.dir, `tmp-${randomBytes(8).toString('hex')}.sig`);
      await writeFile(sigTemp, fetched.signatureText, { mode: 0o600 });
      await rename(sigTemp, this.pathOf(sha256, 'sig'));
      await rename(fetched.zipPath, zipPath);
    }
    return { ...fetched, zipPath };
  }

  /** Removes a fetched release's temporary zip (a kept one stays). */
  async discard(fetched: FetchedRelease): Promise<void> {
    if (fetched.zipPath !== this.pathOf(fetched.release.sha256, 'zip'))
      await unlink(fetched.zipPath).catch(() => {});
  }

  /**
   * The kept copy of a release, verified again from scratch against `index`
   * (digest, validator, signature, update rules), or undefined when there is
   * no kept copy. A kept copy that fails is removed and the refusal thrown.
   */
  async kept(
    index: StoreIndex,
    appId: string,
    version: string,
    sha256: string,
    installed?: InstalledRelease,
  ): Promise<FetchedRelease | undefined> {
    if (!HEX.test(sha256)) return undefined;
    const zipPath = this.pathOf(sha256, 'zip');
    let signatureText: string;
    try {
      const sig = await readFile(this.pathOf(sha256, 'sig'));
      if (sig.length > MAX_SIGNATURE_FILE) throw new Error('too large');
      signatureText = sig.toString('utf8');
    } catch {
      return undefined;
    }
    try {
      // The digest given is the one recorded; the validator hashes the bytes on disk again.
      const verified = await verifyFetchedRelease(
        index,
        { appId, version, zipPath, sha256, signatureText },
        { installed, limits: { maxZipBytes: this.maxZipBytes } },
      );
      return { ...verified, zipPath, signatureText };
    } catch (err) {
      await this.forget(sha256);
      throw err;
    }
  }

  /** Removes a kept release. */
  async forget(sha256: string): Promise<void> {
    if (!HEX.test(sha256)) return;
    await rm(this.pathOf(sha256, 'zip'), { force: true });
    await rm(this.pathOf(sha256, 'sig'), { force: true });
  }

  private pathOf(sha256: string, kind: 'zip' | 'sig'): string {
    return join(this.dir, `${sha256}.${kind}`);
  }
}
