import { once } from 'node:events';
import { join } from 'node:path';
import { createDeflateRaw } from 'node:zlib';
import yazl from 'yazl';
import type { ReleaseLimits } from '../../src/core/release/types.js';
import { appYml, composeYml } from './corpus-documents.js';
import { crc32, deflated, type RawLocalEntry, rawZip } from './raw-zip.js';

/** The pieces the corpus cases are built from. */

export type CorpusKind = 'valid' | 'bomb' | 'zip' | 'yaml' | 'manifest' | 'compose' | 'icon';

export interface CorpusCase {
  name: string;
  kind: CorpusKind;
  /** 'valid', or the ReleaseError code it must be refused with. */
  expect: string;
  /** Limits other than the defaults to validate it with. */
  limits?: Partial<ReleaseLimits>;
  /** For bombs: most bytes the validator may inflate before refusing it. */
  maxInflatedBytes?: number;
  build(dir: string): Buffer | Promise<Buffer>;
}

export interface CorpusFile extends Omit<CorpusCase, 'build'> {
  path: string;
}

/** Paths a zip-slip entry would reach if anything extracted it; tests assert they never appear. */
export function slipTargets(dir: string): string[] {
  return [join(dir, '..', 'slip-target.yml'), join(dir, 'abs-slip-target.yml')];
}

export const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
  Buffer.from('IHDR', 'latin1'),
  Buffer.alloc(17),
]);
export const SVG =
  '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><use href="#a"/></svg>\n';

/** The files of a valid release, in pack order. */
export function validFiles(icon?: 'icon.png' | 'icon.svg'): Array<[string, Buffer]> {
  const files: Array<[string, Buffer]> = [
    ['app.yml', Buffer.from(appYml(icon ? { icon } : {}))],
    ['docker-compose.yml', Buffer.from(composeYml())],
  ];
  if (icon === 'icon.png') files.push([icon, PNG]);
  if (icon === 'icon.svg') files.push([icon, Buffer.from(SVG)]);
  return files;
}

/** A zip as yazl (and so `warren app pack`) writes it. */
export async function yazlZip(files: Array<[string, Buffer]>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of files)
    zip.addBuffer(content, name, { mtime: new Date(1980, 0, 1), mode: 0o100644 });
  zip.end();
  const chunks: Buffer[] = [];
  zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(zip.outputStream, 'end');
  return Buffer.concat(chunks);
}

/** The valid release's entries with one replaced or added, written honestly. */
export function release(replace: Record<string, string | Buffer> = {}, extra: RawLocalEntry[] = []): Buffer {
  const files = new Map<string, string | Buffer>(validFiles());
  for (const [name, content] of Object.entries(replace)) files.set(name, content);
  return rawZip([...[...files].map(([name, content]) => deflated(name, content)), ...extra]);
}

export const MIB = 1024 * 1024;

/** `mib` MiB of zeros, deflated as a stream (never held whole in memory), with its CRC. */
export async function deflatedZeros(mib: number): Promise<{ data: Buffer; crc: number; size: number }> {
  const deflate = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => out.push(chunk));
  const zeros = Buffer.alloc(MIB);
  let crc = 0;
  for (let i = 0; i < mib; i++) {
    crc = crc32(zeros, crc);
    if (!deflate.write(zeros)) await once(deflate, 'drain');
  }
  deflate.end();
  await once(deflate, 'end');
  return { data: Buffer.concat(out), crc, size: mib * MIB };
}

/** Entries that all point at one local header: the overlapping-entry bomb's skeleton. */
export function overlapping(names: string[], local: RawLocalEntry): Buffer {
  return rawZip(
    [local],
    names.map((name) => ({ local: 0, name })),
  );
}
