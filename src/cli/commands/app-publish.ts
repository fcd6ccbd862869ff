import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { StoreClient, type StoreClientFlags } from '../store-client.js';

/*
 * The store side of `warren app`: publish a signed release, fetch one the way
 * an instance does (index checked against the pinned store key and the last
 * serial seen, release checked against the index and its signature against
 * the key the index names), rotate the maintainer key, yank a version.
 */

interface PublishFlags extends StoreClientFlags {
  signature?: string;
  json?: boolean;
}

interface FetchFlags extends StoreClientFlags {
  storeKey: string;
  state: string;
  out: string;
  indexFile?: string;
  json?: boolean;
}

interface RotateFlags extends StoreClientFlags {
  oldKey: string;
  newKey: string;
  json?: boolean;
}

const storeOptions = (cmd: Command) =>
  cmd
    .requiredOption('--store <url>', 'the store, https://host:port')
    .option('--ca <file>', "CA certificate that signed the store's (default: the system's)")
    .option('--token-file <file>', 'file (0600) holding a store API token (default: $WARREN_STORE_TOKEN)');

export function registerAppPublishCommands(app: Command): void {
  storeOptions(
    app
      .command('publish <zip>')
      .description('upload a signed release to a store; prints its digest URL')
      .option('--signature <file>', 'the signature file (default: <zip>.sig)')
      .option('--json', 'machine-readable output'),
  ).action(async (zip: string, flags: PublishFlags) => {
    const { readSignature, formatSignature } = await import('../../core/release/signature.js');
    // Read and checked here so a missing signature fails before the upload.
    const sig = await readSignature(flags.signature ?? `${zip}.sig`);
    const client = await StoreClient.fromFlags(flags, true);
    try {
      const published = await client.upload<{ app_id: string; version: string; sha256: string; url: string }>(
        zip,
        formatSignature(sig),
      );
      const url = `${client.base}${published.url}`;
      if (flags.json) return print({ ...published, url });
      process.stdout.write(
        `published ${published.app_id} ${published.version} (sha256 ${published.sha256})\n${url}\n`,
      );
    } finally {
      await client.close();
    }
  });

  storeOptions(
    app
      .command('fetch <app>')
      .description(
        'download a release (<app> or <app>@<version>) as an instance does, checking index, digest and signature',
      )
      .requiredOption(
        '--store-key <file>',
        "the store's public key (warren-ed25519 line), pinned out of band",
      )
      .requiredOption(
        '--state <file>',
        'where the newest index serial seen is kept (a replayed older index is refused)',
      )
      .option('--out <dir>', 'folder for <app>-<version>.zip and .sig', '.')
      .option(
        '--index-file <file>',
        'check this copy of the index (e.g. from a mirror) instead of downloading it',
      )
      .option('--json', 'machine-readable output'),
  ).action(async (spec: string, flags: FetchFlags) => {
    const result = await fetchRelease(spec, flags);
    if (flags.json) return print(result);
    process.stdout.write(
      `OK ${result.app_id} ${result.version} (sha256 ${result.sha256}): in index serial ${result.index_serial}, ` +
        `signed by maintainer key ${result.key_id}\n${result.zip}\n`,
    );
  });

  storeOptions(
    app
      .command('rotate-key')
      .description('move your apps to a new maintainer key with a statement signed by the old one')
      .requiredOption('--old-key <file>', 'your current private key')
      .requiredOption('--new-key <file>', "the new private key ('warren app keygen')")
      .option('--json', 'machine-readable output'),
  ).action(async (flags: RotateFlags) => {
    const { readPrivateKey, keyId, rawPublicKey } = await import('../../core/release/keys.js');
    const { makeRotationStatement } = await import('../../store/key-rotation.js');
    const oldKey = await readPrivateKey(flags.oldKey);
    const newKey = await readPrivateKey(flags.newKey);
    const client = await StoreClient.fromFlags(flags, true);
    try {
      const mine = await client.call<{
        maintainer: string;
        items: Array<{ app_id: string; version: string; sha256: string }>;
      }>('GET', '/api/v1/maintainers/me/releases');
      const statement = makeRotationStatement(mine.maintainer, oldKey, newKey, mine.items);
      await client.call('POST', '/api/v1/maintainers/me/key-rotation', statement);
      const result = { key_id: keyId(rawPublicKey(newKey)), releases: mine.items.length };
      if (flags.json) return print(result);
      process.stdout.write(`rotated to key ${result.key_id}; ${result.releases} releases re-signed\n`);
    } finally {
      await client.close();
    }
  });

  storeOptions(
    app
      .command('yank <app> <version>')
      .description('yank a version: kept, marked in the index, not offered for new installs')
      .option('--reason <text>', 'why (audit log)'),
  ).action(async (appId: string, version: string, flags: StoreClientFlags & { reason?: string }) => {
    const client = await StoreClient.fromFlags(flags, true);
    try {
      await client.call(
        'POST',
        `/api/v1/apps/${encodeURIComponent(appId)}/versions/${encodeURIComponent(version)}/yank`,
        { reason: flags.reason ?? '' },
      );
      process.stdout.write(`yanked ${appId} ${version}\n`);
    } finally {
      await client.close();
    }
  });
}

async function fetchRelease(spec: string, flags: FetchFlags) {
  const [
    { readPublicKeyFile, keyId },
    index_,
    signature,
    { verifyFetchedRelease },
    { compareSemver },
    types,
  ] = await Promise.all([
    import('../../core/release/keys.js'),
    import('../../core/release/store-index.js'),
    import('../../core/release/signature.js'),
    import('../../core/release/fetched.js'),
    import('../../core/release/semver.js'),
    import('../../core/release/types.js'),
  ]);
  const [appId, wanted] = spec.split('@', 2) as [string, string | undefined];
  const pinned = await readPublicKeyFile(flags.storeKey);
  const seen = existsSync(flags.state)
    ? (JSON.parse(await readFile(flags.state, 'utf8')) as { serial: number; digest: string })
    : undefined;
  const client = await StoreClient.fromFlags(flags, false);
  try {
    const text = flags.indexFile
      ? await readFile(flags.indexFile, 'utf8')
      : (await client.fetchBytes('/api/v1/index', index_.MAX_INDEX_BYTES)).bytes.toString('utf8');
    const verified = index_.verifyIndex(text, { storeKey: pinned.raw, ...(seen ? { seen } : {}) });
    await writeAtomically(flags.state, `${JSON.stringify(verified.seen)}\n`);
    const app = verified.index.apps.find((a) => a.id === appId);
    const version =
      wanted ??
      app?.versions
        .filter((v) => !v.yanked)
        .map((v) => v.version)
        .sort((a, b) => compareSemver(b, a))[0];
    if (!app || !version) {
      throw new WarrenError('NOT_FOUND', `no installable version of '${appId}' in the store index`, 404);
    }
    const listed = app.versions.find((v) => v.version === version);
    if (!listed) throw new WarrenError('NOT_FOUND', `${appId} ${version} is not in the store index`, 404);
    // Downloaded by the digest the index names; the bytes must hash to it.
    const zip = await client.fetchBytes(
      `/releases/sha256:${listed.sha256}`,
      types.DEFAULT_RELEASE_LIMITS.maxZipBytes,
    );
    // Refused before anything is written when the index does not list these bytes.
    index_.releaseInIndex(verified.index, { appId, version, sha256: zip.sha256 });
    await mkdir(flags.out, { recursive: true });
    const zipPath = join(flags.out, `${appId}-${version}.zip`);
    await writeAtomically(zipPath, zip.bytes);
    try {
      const sigBytes = await client.fetchBytes(
        `/releases/sha256:${listed.sha256}.sig`,
        signature.MAX_SIGNATURE_FILE,
      );
      // The same checks every cloud instance makes (core/release/fetched.ts).
      const { release, signature: checked } = await verifyFetchedRelease(verified.index, {
        appId,
        version,
        zipPath,
        sha256: zip.sha256,
        signatureText: sigBytes.bytes.toString('utf8'),
      });
      const sig = signature.parseSignature(sigBytes.bytes.toString('utf8'), 'signature');
      await writeAtomically(`${zipPath}.sig`, signature.formatSignature(sig));
      return {
        ok: true,
        app_id: appId,
        version,
        sha256: release.sha256,
        key_id: checked.keyId,
        store_key_id: keyId(pinned.raw),
        index_serial: verified.index.serial,
        zip: zipPath,
      };
    } catch (err) {
      await unlink(zipPath).catch(() => {});
      throw err;
    }
  } finally {
    await client.close();
  }
}

async function writeAtomically(path: string, content: string | Buffer): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode: 0o600 });
  await rename(temp, path);
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
