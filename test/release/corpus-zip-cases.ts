import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import {
  type CorpusCase,
  deflatedZeros,
  overlapping,
  release,
  slipTargets,
  validFiles,
  yazlZip,
} from './corpus-builders.js';
import { appYml, composeYml } from './corpus-documents.js';
import { deflated, rawZip, stored } from './raw-zip.js';

/** Zip bombs and zip-level attacks of the corpus. */

export const BOMB_CASES: CorpusCase[] = [
  {
    name: 'bomb-ratio-100mib',
    kind: 'bomb',
    expect: 'ZIP_BOMB',
    maxInflatedBytes: 0,
    build: async () => {
      const zeros = await deflatedZeros(100);
      return rawZip([
        deflated('app.yml', appYml()),
        {
          name: 'docker-compose.yml',
          data: zeros.data,
          method: 8,
          crc32: zeros.crc,
          uncompressedSize: zeros.size,
        },
      ]);
    },
  },
  {
    // The headers claim a small, plausible file; inflating must stop at what they claim.
    name: 'bomb-header-lies',
    kind: 'bomb',
    expect: 'ZIP_BOMB',
    maxInflatedBytes: 4096,
    build: async () => {
      const zeros = await deflatedZeros(100);
      return rawZip([
        deflated('app.yml', appYml()),
        { name: 'docker-compose.yml', data: zeros.data, method: 8, crc32: 0, uncompressedSize: 4096 },
      ]);
    },
  },
  {
    // 250 names, one 1 MiB blob: 250 MiB if extracted. Headers claim little, so only the layout check stops it.
    name: 'bomb-overlapping-entries',
    kind: 'bomb',
    expect: 'ZIP_OVERLAPPING_ENTRIES',
    limits: { maxEntries: 1000 },
    maxInflatedBytes: 0,
    build: async () => {
      const zeros = await deflatedZeros(1);
      const names = Array.from({ length: 250 }, (_, i) => `f${i}`);
      return overlapping(names, {
        name: 'f0',
        data: zeros.data,
        method: 8,
        crc32: zeros.crc,
        uncompressedSize: 1000,
      });
    },
  },
  {
    name: 'bomb-overlapping-release-files',
    kind: 'bomb',
    expect: 'ZIP_OVERLAPPING_ENTRIES',
    maxInflatedBytes: 0,
    build: () => overlapping(['app.yml', 'docker-compose.yml'], deflated('app.yml', appYml())),
  },
  {
    name: 'bomb-too-many-entries',
    kind: 'bomb',
    expect: 'ZIP_TOO_MANY_ENTRIES',
    maxInflatedBytes: 0,
    build: () => rawZip(Array.from({ length: 5000 }, (_, i) => stored(`e${i}`, ''))),
  },
  {
    name: 'bomb-nested-zip',
    kind: 'bomb',
    expect: 'ZIP_NESTED_ARCHIVE',
    build: async () => release({ 'docker-compose.yml': await yazlZip(validFiles()) }),
  },
  {
    name: 'too-large-zip',
    kind: 'bomb',
    expect: 'ZIP_TOO_LARGE',
    limits: { maxZipBytes: 64 * 1024 },
    maxInflatedBytes: 0,
    // Random bytes do not compress: the zip itself is over the limit.
    build: () => rawZip([stored('app.yml', appYml()), stored('docker-compose.yml', randomBytes(100 * 1024))]),
  },
];

export const ZIP_CASES: Array<Omit<CorpusCase, 'kind'>> = [
  {
    name: 'slip-dotdot',
    expect: 'ZIP_SLIP',
    build: () => release({}, [deflated('../slip-target.yml', 'x')]),
  },
  {
    name: 'slip-absolute',
    expect: 'ZIP_SLIP',
    build: (dir) => release({}, [deflated(slipTargets(dir)[1]!, 'x')]),
  },
  { name: 'slip-etc', expect: 'ZIP_SLIP', build: () => release({}, [deflated('/etc/cron.d/x', 'x')]) },
  { name: 'slip-drive', expect: 'ZIP_SLIP', build: () => release({}, [deflated('C:/Windows/x', 'x')]) },
  { name: 'slip-backslash', expect: 'ZIP_SLIP', build: () => release({}, [deflated('..\\..\\x', 'x')]) },
  {
    name: 'slip-fullwidth',
    expect: 'ZIP_SLIP',
    build: () => release({}, [deflated('\uff0e\uff0e\uff0fx', 'x')]),
  },
  { name: 'name-nul', expect: 'ZIP_BAD_NAME', build: () => release({}, [deflated('app.yml\0.txt', 'x')]) },
  {
    name: 'name-unicode-path-extra',
    expect: 'ZIP_BAD_NAME',
    build: () => release({}, [{ ...deflated('readme', 'x'), extra: Buffer.from([0x75, 0x70, 1, 0, 0]) }]),
  },
  {
    name: 'name-not-utf8',
    expect: 'ZIP_BAD_NAME',
    build: () => release({}, [deflated(Buffer.from([0x61, 0xe9, 0x2e, 0x79, 0x6d, 0x6c]), 'x')]),
  },
  {
    name: 'symlink',
    expect: 'ZIP_NOT_REGULAR_FILE',
    build: () => {
      const locals = [deflated('app.yml', appYml()), stored('docker-compose.yml', '/etc/passwd')];
      return rawZip(locals, [{ local: 0 }, { local: 1, externalAttributes: (0o120777 << 16) >>> 0 }]);
    },
  },
  { name: 'directory', expect: 'ZIP_NOT_REGULAR_FILE', build: () => release({}, [stored('icons/', '')]) },
  {
    name: 'duplicate-name',
    expect: 'ZIP_DUPLICATE_ENTRY',
    build: () => release({}, [deflated('app.yml', appYml())]),
  },
  {
    name: 'case-collision',
    expect: 'ZIP_NAME_COLLISION',
    build: () => release({}, [deflated('App.yml', appYml())]),
  },
  {
    name: 'unicode-collision',
    expect: 'ZIP_NAME_COLLISION',
    build: () =>
      release({}, [deflated('caf\u00e9.yml'.normalize('NFC'), 'a'), deflated('cafe\u0301.yml', 'b')]),
  },
  {
    name: 'encrypted',
    expect: 'ZIP_ENCRYPTED',
    build: () =>
      rawZip([{ ...deflated('app.yml', appYml()), flags: 1 }, deflated('docker-compose.yml', composeYml())]),
  },
  {
    name: 'unsupported-compression',
    expect: 'ZIP_UNSUPPORTED_COMPRESSION',
    build: () =>
      rawZip([{ ...stored('app.yml', appYml()), method: 12 }, deflated('docker-compose.yml', composeYml())]),
  },
  {
    name: 'local-name-differs',
    expect: 'ZIP_MALFORMED',
    build: () => {
      const locals = [deflated('app.yml', appYml()), deflated('docker-compose.yml', composeYml())];
      return rawZip(locals, [{ local: 0 }, { local: 1, name: 'icon.png' }]);
    },
  },
  {
    name: 'crc-mismatch',
    expect: 'ZIP_MALFORMED',
    build: () =>
      rawZip([{ ...deflated('app.yml', appYml()), crc32: 1 }, deflated('docker-compose.yml', composeYml())]),
  },
  {
    name: 'truncated',
    expect: 'ZIP_MALFORMED',
    build: async () => (await yazlZip(validFiles())).subarray(0, 300),
  },
  {
    name: 'not-a-zip',
    expect: 'ZIP_MALFORMED',
    build: () => Buffer.from('this is not a zip file\n'.repeat(20)),
  },
  {
    name: 'unexpected-file',
    expect: 'ZIP_UNEXPECTED_FILE',
    build: () => release({}, [deflated('README.md', 'hi')]),
  },
  {
    name: 'nested-folder',
    expect: 'ZIP_UNEXPECTED_FILE',
    build: () => release({}, [deflated('sub/app.yml', 'x')]),
  },
  {
    name: 'missing-compose',
    expect: 'ZIP_MISSING_FILE',
    build: () => rawZip([deflated('app.yml', appYml())]),
  },
  {
    name: 'nested-gzip-icon',
    expect: 'ZIP_NESTED_ARCHIVE',
    build: () => release({ 'icon.png': gzipSync('x') }),
  },
];
