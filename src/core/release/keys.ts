import {
  createCipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scryptSync,
} from 'node:crypto';
import { constants, type FileHandle, open, unlink } from 'node:fs/promises';
import { sha256 } from '../digest.js';
import { WarrenError } from '../errors.js';

/*
 * Maintainer keys: Ed25519 pairs that sign app releases. The private key is a
 * PKCS#8 PEM file (mode 0600), optionally encrypted with a passphrase; the
 * public key is one line, `warren-ed25519 <base64 of the raw 32 bytes> <comment>`,
 * like ssh's. A key is named everywhere by its id: the first 16 hex digits of
 * the SHA-256 of the raw public key.
 */

export const PUBLIC_KEY_PREFIX = 'warren-ed25519';
/** Private key files are a few hundred bytes; anything far larger is not one. */
const MAX_PRIVATE_KEY_FILE = 16 * 1024;
/** One line: prefix, 44 base64 characters, a comment. */
const MAX_PUBLIC_KEY_FILE = 4 * 1024;
const MAX_COMMENT = 200;
export const MAX_PASSPHRASE = 1024;

/*
 * Passphrase encryption is PKCS#8 PBES2 with scrypt (RFC 7914 §7) and
 * AES-256-CBC, which node's export() cannot produce (it offers PBKDF2 with
 * OpenSSL's 2,048 iterations) but OpenSSL — and so createPrivateKey — reads.
 * N=2^14, r=8 (16 MiB) is OpenSSL's own choice and the most its decoder
 * accepts (it caps scrypt at 32 MiB); p=4 makes a guess four times dearer
 * without more memory.
 */
const SCRYPT = { N: 1 << 14, r: 8, p: 4 } as const;
const OID_PBES2 = Buffer.from('06092a864886f70d01050d', 'hex');
const OID_SCRYPT = Buffer.from('06092b06010401da47040b', 'hex');
const OID_AES256_CBC = Buffer.from('060960864801650304012a', 'hex');

export interface MaintainerKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A parsed public key line. */
export interface PublicKeyInfo {
  /** Raw 32 bytes. */
  raw: Buffer;
  keyId: string;
  comment: string;
}

export function generateMaintainerKey(): MaintainerKeyPair {
  return generateKeyPairSync('ed25519');
}

/** The raw 32-byte Ed25519 public key (of a public or a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new WarrenError(
      'KEY_NOT_ED25519',
      `expected an Ed25519 key, got ${publicKey.asymmetricKeyType}`,
      400,
    );
  }
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

/** A KeyObject for a raw 32-byte Ed25519 public key. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) {
    throw new WarrenError('KEY_MALFORMED', `an Ed25519 public key is 32 bytes, not ${raw.length}`, 400);
  }
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** The id a key is shown by: 16 hex digits of SHA-256 of the raw public key. */
export function keyId(raw: Uint8Array): string {
  return sha256(raw).toString('hex').slice(0, 16);
}

/**
 * Strict base64 (the standard alphabet, padded): returns the bytes only when
 * re-encoding gives the same text, so no two spellings name one key.
 */
export function decodeCanonicalBase64(text: string, bytes: number): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const decoded = Buffer.from(text, 'base64');
  if (decoded.length !== bytes || decoded.toString('base64') !== text) return undefined;
  return decoded;
}

/** `warren-ed25519 <base64> <comment>` (one line, no line end). */
export function formatPublicKeyLine(key: KeyObject, comment: string): string {
  checkComment(comment);
  const line = `${PUBLIC_KEY_PREFIX} ${rawPublicKey(key).toString('base64')}`;
  return comment === '' ? line : `${line} ${comment}`;
}

/** Parses a public key file's text: one line (a final line end allowed). */
export function parsePublicKeyLine(text: string, where: string): PublicKeyInfo {
  const body = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
  const bad = (why: string) =>
    new WarrenError('KEY_MALFORMED', `${where}: not a Warren public key (${why})`, 400);
  if (/[\r\n]/.test(body)) throw bad('more than one line');
  const match = /^([^ ]+) ([^ ]+)(?: (.*))?$/.exec(body);
  if (!match) throw bad(`expected '${PUBLIC_KEY_PREFIX} <base64> <comment>'`);
  if (match[1] !== PUBLIC_KEY_PREFIX) throw bad(`type is '${match[1]}', expected '${PUBLIC_KEY_PREFIX}'`);
  const raw = decodeCanonicalBase64(match[2]!, 32);
  if (!raw) throw bad('the key is not base64 of 32 bytes');
  const comment = match[3] ?? '';
  try {
    checkComment(comment);
    publicKeyFromRaw(raw);
  } catch (err) {
    throw bad(err instanceof Error ? err.message : String(err));
  }
  return { raw, keyId: keyId(raw), comment };
}

function checkComment(comment: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (comment.length > MAX_COMMENT || /[\u0000-\u001f\u007f]/.test(comment)) {
    throw new WarrenError(
      'KEY_BAD_COMMENT',
      `a key comment is one line of at most ${MAX_COMMENT} printable characters`,
      400,
    );
  }
}

/** The private key as PKCS#8 PEM; encrypted (PBES2, scrypt, AES-256-CBC) when a passphrase is given. */
export function encodePrivateKeyPem(key: KeyObject, passphrase?: string): string {
  if (passphrase === undefined) return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  checkPassphrase(passphrase);
  const plain = key.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const secret = scryptSync(Buffer.from(passphrase, 'utf8'), salt, 32, {
    ...SCRYPT,
    maxmem: 64 * 1024 * 1024,
  });
  const cipher = createCipheriv('aes-256-cbc', secret, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const kdf = der(0x30, OID_SCRYPT, der(0x30, der(0x04, salt), int(SCRYPT.N), int(SCRYPT.r), int(SCRYPT.p)));
  const scheme = der(0x30, OID_AES256_CBC, der(0x04, iv));
  const info = der(0x30, der(0x30, OID_PBES2, der(0x30, kdf, scheme)), der(0x04, encrypted));
  const lines = info.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${lines.join('\n')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
}

export function checkPassphrase(passphrase: string): void {
  if (passphrase === '' || passphrase.length > MAX_PASSPHRASE) {
    throw new WarrenError(
      'KEY_BAD_PASSPHRASE',
      `a passphrase is 1 to ${MAX_PASSPHRASE} characters (an empty one means no encryption: leave it out)`,
      400,
    );
  }
}

/** A DER TLV. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const length =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

/** A DER INTEGER for a small non-negative number. */
function int(value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || bytes[0]! & 0x80) bytes.unshift(0);
  return der(0x02, Buffer.from(bytes));
}

export interface KeyFilePaths {
  privateKey: string;
  publicKey: string;
}

/**
 * Writes a new key pair: the private key 0600, the public key 0644. Refuses
 * when either file exists (exclusive create, so no race either); when the
 * public key cannot be written the private one is removed again.
 */
export async function writeKeyPair(
  paths: KeyFilePaths,
  pair: MaintainerKeyPair,
  comment: string,
  passphrase?: string,
): Promise<PublicKeyInfo> {
  const publicLine = formatPublicKeyLine(pair.publicKey, comment);
  const privatePem = encodePrivateKeyPem(pair.privateKey, passphrase);
  await writeNew(paths.privateKey, privatePem, 0o600);
  try {
    await writeNew(paths.publicKey, `${publicLine}\n`, 0o644);
  } catch (err) {
    await unlink(paths.privateKey).catch(() => {});
    throw err;
  }
  return parsePublicKeyLine(publicLine, paths.publicKey);
}

async function writeNew(path: string, content: string, mode: number): Promise<void> {
  let file: FileHandle;
  try {
    file = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new WarrenError('KEY_FILE_EXISTS', `${path} exists; refusing to overwrite a key file`, 409);
    }
    throw err;
  }
  try {
    await file.chmod(mode);
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Where the passphrase of an encrypted key comes from; asked only when the key is encrypted. */
export type PassphraseSource = () => Promise<string>;

/**
 * Reads a private key file. Like ssh, refuses a file that its group or others
 * may read or write (the key may already be known to them), and anything that
 * is not a small regular file; asks for the passphrase only if the key is
 * encrypted.
 */
export async function readPrivateKey(path: string, passphrase?: PassphraseSource): Promise<KeyObject> {
  const text = await readSmallFile(path, MAX_PRIVATE_KEY_FILE, 'private key', (mode) => {
    if ((mode & 0o077) !== 0) {
      throw new WarrenError(
        'KEY_PERMISSIONS_TOO_OPEN',
        `private key ${path} has mode 0${(mode & 0o777).toString(8)}; it must be readable by its owner ` +
          `alone (chmod 600 ${path})`,
        400,
      );
    }
  });
  const encrypted = text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  if (!encrypted && !text.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new WarrenError('KEY_MALFORMED', `${path} is not a PKCS#8 PEM private key`, 400);
  }
  let secret: Buffer | undefined;
  if (encrypted) {
    if (!passphrase) {
      throw new WarrenError(
        'KEY_PASSPHRASE_NEEDED',
        `private key ${path} is encrypted: a passphrase is needed`,
        400,
      );
    }
    secret = Buffer.from(await passphrase(), 'utf8');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem', ...(secret ? { passphrase: secret } : {}) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    // A wrong passphrase fails the CBC padding check, or (1 in 256) passes it and leaves garbage.
    if (encrypted) {
      throw new WarrenError(
        'KEY_PASSPHRASE_WRONG',
        `wrong passphrase for private key ${path}${code === 'ERR_OSSL_BAD_DECRYPT' ? '' : ' (or the file is damaged)'}`,
        400,
      );
    }
    throw new WarrenError('KEY_MALFORMED', `${path}: cannot read the private key (${code ?? 'error'})`, 400);
  } finally {
    secret?.fill(0);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new WarrenError('KEY_NOT_ED25519', `${path} is a ${key.asymmetricKeyType} key, not Ed25519`, 400);
  }
  return key;
}

/** Reads and parses a public key file (`warren-ed25519 …`). */
export async function readPublicKeyFile(path: string): Promise<PublicKeyInfo> {
  return parsePublicKeyLine(await readSmallFile(path, MAX_PUBLIC_KEY_FILE, 'public key'), path);
}

/**
 * A small regular file as UTF-8 text: at most `maxBytes` are read however
 * large the file claims or turns out to be; `checkMode` sees the mode of the
 * file actually opened (fstat, not stat of the path).
 */
export async function readSmallFile(
  path: string,
  maxBytes: number,
  what: string,
  checkMode?: (mode: number) => void,
  fail: (kind: SmallFileFailure, message: string) => Error = keyFileError,
): Promise<string> {
  let file: FileHandle;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fail('missing', `${what} ${path} does not exist`);
    throw fail('unreadable', `cannot open ${what} ${path} (${code})`);
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw fail('malformed', `${what} ${path} is not a regular file`);
    checkMode?.(stat.mode);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) {
      throw fail('malformed', `${what} ${path} is larger than ${maxBytes} bytes`);
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length));
    } catch {
      throw fail('malformed', `${what} ${path} is not UTF-8 text`);
    } finally {
      buffer.fill(0);
    }
  } finally {
    await file.close();
  }
}

export type SmallFileFailure = 'missing' | 'unreadable' | 'malformed';

function keyFileError(kind: SmallFileFailure, message: string): Error {
  const code = { missing: 'KEY_FILE_MISSING', unreadable: 'KEY_FILE_UNREADABLE', malformed: 'KEY_MALFORMED' }[
    kind
  ];
  return new WarrenError(code, message, 400);
}
