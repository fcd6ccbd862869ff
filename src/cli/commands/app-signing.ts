import { mkdir } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { errorMessage, isWarrenError, WarrenError } from '../../core/errors.js';

/*
 * `warren app keygen|sign|verify`: a maintainer's key pair, the detached
 * signature of a release, and its check. Passphrases never come from a flag
 * (ps and shell history would show them): from the file named by
 * WARREN_KEY_PASSPHRASE_FILE, or typed on a terminal without echo. The crypto
 * and the validator load inside the actions, so `warren --help` stays fast.
 */

const PASSPHRASE_ENV = 'WARREN_KEY_PASSPHRASE_FILE';
const DEFAULT_KEY_NAME = 'maintainer';

interface KeygenFlags {
  out?: string;
  privateKey?: string;
  publicKey?: string;
  comment?: string;
  passphrase?: boolean;
  json?: boolean;
}

interface SignFlags {
  key: string;
  out?: string;
  json?: boolean;
}

interface VerifyFlags {
  sig?: string;
  key?: string;
  json?: boolean;
}

export function registerAppSigningCommands(app: Command): void {
  app
    .command('keygen')
    .description('create a maintainer key pair (Ed25519): <name>.key (0600) and <name>.pub')
    .option('--out <dir>', `folder for ${DEFAULT_KEY_NAME}.key and ${DEFAULT_KEY_NAME}.pub (default: .)`)
    .option('--private-key <file>', 'private key file (instead of --out)')
    .option('--public-key <file>', 'public key file (default: <private key>.pub)')
    .option('--comment <text>', 'comment in the public key line (default: user@host)')
    .option('--passphrase', `encrypt the private key; the passphrase from $${PASSPHRASE_ENV} or a prompt`)
    .option('--json', 'machine-readable output')
    .action(async (flags: KeygenFlags) => {
      const { generateMaintainerKey, writeKeyPair } = await import('../../core/release/keys.js');
      const paths = keyPaths(flags);
      if (flags.out !== undefined) await mkdir(flags.out, { recursive: true, mode: 0o700 });
      const passphrase = flags.passphrase ? await readPassphrase(true) : undefined;
      const info = await writeKeyPair(
        paths,
        generateMaintainerKey(),
        flags.comment ?? defaultComment(),
        passphrase,
      );
      const line = `warren-ed25519 ${info.raw.toString('base64')}${info.comment ? ` ${info.comment}` : ''}`;
      if (flags.json) {
        print({
          key_id: info.keyId,
          public_key: line,
          private_key_file: paths.privateKey,
          public_key_file: paths.publicKey,
          encrypted: passphrase !== undefined,
        });
        return;
      }
      process.stdout.write(
        `key id ${info.keyId}\n${line}\n` +
          `private key: ${paths.privateKey} (0600${passphrase ? ', encrypted' : ', NOT encrypted'})\n` +
          `public key:  ${paths.publicKey}\n`,
      );
    });

  app
    .command('sign <zip>')
    .description('validate a release and write its detached signature <zip>.sig')
    .requiredOption('--key <file>', 'the maintainer private key file')
    .option('--out <file>', 'signature file (default: <zip>.sig)')
    .option('--json', 'machine-readable output')
    .action(async (zip: string, flags: SignFlags) => {
      const { readPrivateKey, rawPublicKey, keyId } = await import('../../core/release/keys.js');
      const { signReleaseDigest, writeSignature } = await import('../../core/release/signature.js');
      const { validateRelease } = await import('../../core/release/validate.js');
      // The key first: a wrong passphrase should not wait for validation.
      const privateKey = await readPrivateKey(flags.key, () => readPassphrase(false));
      const release = await validateRelease(zip);
      // Signs the digest the validator computed over the bytes it checked, not a second read.
      const sig = signReleaseDigest(release.sha256, privateKey, release.manifest);
      const out = flags.out ?? `${zip}.sig`;
      await writeSignature(out, sig);
      const signer = keyId(rawPublicKey(privateKey));
      if (flags.json) {
        print({ ok: true, signature_file: out, key_id: signer, ...summary(release) });
        return;
      }
      process.stdout.write(
        `signed ${release.manifest.id} ${release.manifest.version} (sha256 ${release.sha256}) ` +
          `with key ${signer}\nsignature: ${out}\n`,
      );
    });

  app
    .command('verify <zip>')
    .description('validate a release and check its signature; exit 0 only when both pass')
    .option('--sig <file>', 'signature file (default: <zip>.sig)')
    .option('--key <file>', "the maintainer's public key file: require the signature to be by it")
    .option('--json', 'machine-readable output')
    .action(async (zip: string, flags: VerifyFlags) => {
      try {
        await verifyCommand(zip, flags);
      } catch (err) {
        if (!flags.json) throw err;
        const code = isWarrenError(err) ? err.code : 'ERROR';
        const where = err instanceof Error && 'where' in err ? String(err.where) : undefined;
        print({ ok: false, error: { code, ...(where ? { where } : {}), message: errorMessage(err) } });
        process.exitCode = 1;
      }
    });
}

async function verifyCommand(zip: string, flags: VerifyFlags): Promise<void> {
  const { readPublicKeyFile } = await import('../../core/release/keys.js');
  const { readSignature, verifyReleaseSignature } = await import('../../core/release/signature.js');
  const { validateRelease } = await import('../../core/release/validate.js');
  const pinned = flags.key ? await readPublicKeyFile(flags.key) : undefined;
  const release = await validateRelease(zip);
  const sig = await readSignature(flags.sig ?? `${zip}.sig`);
  const verified = verifyReleaseSignature(sig, {
    sha256: release.sha256,
    appId: release.manifest.id,
    version: release.manifest.version,
    ...(pinned ? { publicKey: pinned.raw } : {}),
  });
  if (flags.json) {
    print({ ok: true, key_id: verified.keyId, pinned: verified.pinned, ...summary(release) });
    return;
  }
  const by = verified.pinned
    ? `by the pinned key ${verified.keyId}`
    : `by key ${verified.keyId}, the key the signature names — not pinned: pass --key with the ` +
      `maintainer's public key to require it (a store or instance pins it)`;
  process.stdout.write(
    `OK ${release.manifest.id} ${release.manifest.version} (sha256 ${release.sha256}): ` +
      `valid release, signature valid ${by}\n`,
  );
}

function summary(release: { manifest: { id: string; version: string }; sha256: string }) {
  return { app_id: release.manifest.id, version: release.manifest.version, sha256: release.sha256 };
}

function keyPaths(flags: KeygenFlags): { privateKey: string; publicKey: string } {
  if (flags.out !== undefined && flags.privateKey !== undefined) {
    throw new WarrenError('BAD_FLAGS', 'give --out or --private-key, not both', 400);
  }
  if (flags.privateKey !== undefined) {
    return { privateKey: flags.privateKey, publicKey: flags.publicKey ?? `${flags.privateKey}.pub` };
  }
  const dir = flags.out ?? '.';
  return {
    privateKey: join(dir, `${DEFAULT_KEY_NAME}.key`),
    publicKey: flags.publicKey ?? join(dir, `${DEFAULT_KEY_NAME}.pub`),
  };
}

function defaultComment(): string {
  try {
    return `${userInfo().username}@${hostname()}`.replace(/[^\x21-\x7e]/g, '').slice(0, 200);
  } catch {
    return '';
  }
}

/**
 * The key passphrase: the content of the file $WARREN_KEY_PASSPHRASE_FILE names
 * (one final line end dropped), else typed on the terminal (twice for a new key).
 */
async function readPassphrase(isNew: boolean): Promise<string> {
  const { checkPassphrase, readSmallFile, MAX_PASSPHRASE } = await import('../../core/release/keys.js');
  const file = process.env[PASSPHRASE_ENV];
  if (file) {
    const text = await readSmallFile(file, MAX_PASSPHRASE * 4 + 2, 'passphrase file');
    const value = text.replace(/\r?\n$/, '');
    checkPassphrase(value);
    return value;
  }
  const { canPrompt, promptSecret } = await import('../secret-input.js');
  if (!canPrompt()) {
    throw new WarrenError(
      'KEY_PASSPHRASE_NEEDED',
      `a key passphrase is needed: set ${PASSPHRASE_ENV} to a file holding it, or run on a terminal`,
      400,
    );
  }
  const value = await promptSecret('key passphrase: ');
  checkPassphrase(value);
  if (isNew && (await promptSecret('key passphrase (again): ')) !== value) {
    throw new WarrenError('PASSWORD_MISMATCH', 'the two passphrases differ', 400);
  }
  return value;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
