import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/*
 * The active certificate on disk: <dir>/active.crt (the chain), active.key
 * (0600) and source.json, replaced as a set so that a crash at any point
 * leaves either the old set or the new one, never a certificate with the
 * wrong key:
 *   1. write active.key.tmp, then active.crt.tmp and source.json.tmp, each fsynced;
 *   2. copy the current set to *.prev (each file through its own temp and rename);
 *   3. rename active.key.tmp, then active.crt.tmp, then source.json.tmp into place; fsync the folder.
 * {@link recoverCertificateFiles} finishes or undoes an interrupted replace:
 * while active.key.tmp exists nothing was renamed yet (drop the temps);
 * once it is gone the new set is complete on disk (finish the renames).
 */

export const CERT_FILES = { cert: 'active.crt', key: 'active.key', source: 'source.json' } as const;
type Name = keyof typeof CERT_FILES;

export interface CertificateFileSet {
  cert: string;
  key: string;
  /** JSON text. */
  source: string;
}

const MODES: Record<Name, number> = { cert: 0o644, key: 0o600, source: 0o644 };
/** Renamed into place in this order (the key first: see above). */
const ORDER: Name[] = ['key', 'cert', 'source'];
/** Largest file read back (a chain of 8 certificates is far below). */
const MAX_FILE = 256 * 1024;

function path(dir: string, name: Name, suffix = ''): string {
  return join(dir, CERT_FILES[name] + suffix);
}

function writeDurably(file: string, content: string, mode: number): void {
  const fd = openSync(file, 'w', mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readSmall(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  return text.length > MAX_FILE ? undefined : text;
}

/** Makes the folder (0700) and finishes or undoes a replace a crash interrupted. */
export function recoverCertificateFiles(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(path(dir, 'key', '.tmp'))) {
    for (const name of ORDER) rmSync(path(dir, name, '.tmp'), { force: true });
    return;
  }
  for (const name of ORDER) {
    if (existsSync(path(dir, name, '.tmp'))) renameSync(path(dir, name, '.tmp'), path(dir, name));
  }
}

/** The active set, or undefined when a file is missing. */
export function readCertificateFiles(dir: string, suffix = ''): CertificateFileSet | undefined {
  const cert = readSmall(path(dir, 'cert', suffix));
  const key = readSmall(path(dir, 'key', suffix));
  const source = readSmall(path(dir, 'source', suffix));
  return cert !== undefined && key !== undefined && source !== undefined ? { cert, key, source } : undefined;
}

/** Replaces the active set with `next`, keeping the current one as *.prev. */
export function replaceCertificateFiles(dir: string, next: CertificateFileSet): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of ORDER) writeDurably(path(dir, name, '.tmp'), next[name], MODES[name]);
  const previous = readCertificateFiles(dir);
  if (previous) {
    for (const name of ORDER) {
      writeDurably(path(dir, name, '.prev.tmp'), previous[name], MODES[name]);
      renameSync(path(dir, name, '.prev.tmp'), path(dir, name, '.prev'));
    }
  }
  for (const name of ORDER) renameSync(path(dir, name, '.tmp'), path(dir, name));
  syncDir(dir);
}

/** Writes a small secret file (0600) through a temp file and a rename. */
export function writeSecretFile(file: string, content: string): void {
  writeDurably(`${file}.tmp`, content, 0o600);
  renameSync(`${file}.tmp`, file);
}

/** Writes a small file (0644) through a temp file and a rename. */
export function writeFileAtomically(file: string, content: string): void {
  writeDurably(`${file}.tmp`, content, 0o644);
  renameSync(`${file}.tmp`, file);
}
