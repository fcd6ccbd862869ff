import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  type CorpusCase,
  type CorpusFile,
  PNG,
  release,
  SVG,
  validFiles,
  yazlZip,
} from './corpus-builders.js';
import { appYml, COMPOSE_ESCAPES, composeDocument, composeYml, DIGEST } from './corpus-documents.js';
import { BOMB_CASES, ZIP_CASES } from './corpus-zip-cases.js';
import { rawZip, stored } from './raw-zip.js';

export type { CorpusCase, CorpusFile, CorpusKind } from './corpus-builders.js';
export { slipTargets, validFiles, yazlZip } from './corpus-builders.js';

/**
 * The release corpus: valid releases and malicious ones, written into a
 * folder the caller owns (a temp dir). Used by the validator tests and by
 * bench/validator.ts:
 *
 *   const files = await writeCorpus(dir);
 *   // files[i] = { name, path, expect: 'valid' | ERROR_CODE, kind, limits? }
 */

const YAML_CASES: Array<Omit<CorpusCase, 'kind'>> = [
  {
    name: 'yaml-billion-laughs',
    expect: 'YAML_ALIAS',
    build: () => {
      const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 10; i++) {
        const prev = String.fromCharCode(96 + i);
        const next = String.fromCharCode(97 + i);
        lines.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(',')}]`);
      }
      return release({ 'docker-compose.yml': `${lines.join('\n')}\n${composeYml()}` });
    },
  },
  {
    name: 'yaml-duplicate-key',
    expect: 'YAML_DUPLICATE_KEY',
    build: () => release({ 'app.yml': `${appYml()}id: other\n` }),
  },
  {
    name: 'yaml-not-utf8',
    expect: 'YAML_NOT_UTF8',
    build: () => release({ 'app.yml': Buffer.from(appYml({ maintainer: 'Jos\u00e9' }), 'latin1') }),
  },
  {
    name: 'yaml-two-documents',
    expect: 'YAML_MULTI_DOCUMENT',
    build: () => release({ 'app.yml': `${appYml()}---\n{}\n` }),
  },
  {
    name: 'yaml-tag',
    expect: 'YAML_TAG',
    build: () => release({ 'app.yml': appYml().replace('Notes', '!!binary Tm90ZXM=') }),
  },
  {
    name: 'yaml-deep',
    expect: 'YAML_TOO_DEEP',
    build: () => release({ 'app.yml': `${'['.repeat(50000)}\n` }),
  },
  {
    name: 'yaml-too-large',
    expect: 'YAML_TOO_LARGE',
    // Random text: it must not compress well, or the ratio check refuses it first.
    build: () => release({ 'app.yml': `${appYml()}# ${randomBytes(230 * 1024).toString('base64')}\n` }),
  },
];

const MANIFEST_CASES: Array<Omit<CorpusCase, 'kind'>> = [
  {
    name: 'manifest-bad-version',
    expect: 'MANIFEST_INVALID',
    build: () => release({ 'app.yml': appYml({ version: '1.0' }) }),
  },
  {
    name: 'manifest-bad-id',
    expect: 'MANIFEST_INVALID',
    build: () => release({ 'app.yml': appYml({ id: '../notes' }) }),
  },
  {
    name: 'manifest-bad-port',
    expect: 'MANIFEST_INVALID',
    build: () => release({ 'app.yml': appYml({ internal_port: 70000 }) }),
  },
  {
    name: 'manifest-bad-path',
    expect: 'MANIFEST_INVALID',
    build: () => release({ 'app.yml': appYml({ url_path: 'notes' }) }),
  },
  {
    name: 'manifest-unknown-key',
    expect: 'MANIFEST_INVALID',
    build: () => release({ 'app.yml': appYml({ owner: 'x' }) }),
  },
  {
    name: 'manifest-missing-key',
    expect: 'MANIFEST_INVALID',
    build: () => release({ 'app.yml': appYml({ maintainer: undefined }) }),
  },
  {
    name: 'manifest-icon-missing',
    expect: 'MANIFEST_ICON_MISMATCH',
    build: () => release({ 'app.yml': appYml({ icon: 'icon.png' }) }),
  },
  {
    name: 'manifest-icon-undeclared',
    expect: 'MANIFEST_ICON_MISMATCH',
    build: () => release({ 'icon.png': PNG }),
  },
];

const ICON_CASES: Array<Omit<CorpusCase, 'kind'>> = [
  {
    name: 'icon-svg-script',
    expect: 'ICON_INVALID',
    build: () =>
      release({
        'app.yml': appYml({ icon: 'icon.svg' }),
        'icon.svg': SVG.replace('<use', '<script>alert(1)</script><use'),
      }),
  },
  {
    name: 'icon-svg-external',
    expect: 'ICON_INVALID',
    build: () =>
      release({
        'app.yml': appYml({ icon: 'icon.svg' }),
        'icon.svg': SVG.replace('#a', 'https://evil.example/x.svg#a'),
      }),
  },
  {
    name: 'icon-png-fake',
    expect: 'ICON_INVALID',
    build: () => release({ 'app.yml': appYml({ icon: 'icon.png' }), 'icon.png': 'not a png' }),
  },
  {
    name: 'icon-too-large',
    expect: 'ICON_TOO_LARGE',
    limits: { maxIconBytes: 1024 },
    build: () =>
      release({
        'app.yml': appYml({ icon: 'icon.png' }),
        'icon.png': Buffer.concat([PNG, Buffer.alloc(4096)]),
      }),
  },
];

const VALID_CASES: CorpusCase[] = [
  { name: 'valid-basic', kind: 'valid', expect: 'valid', build: () => yazlZip(validFiles()) },
  { name: 'valid-icon-png', kind: 'valid', expect: 'valid', build: () => yazlZip(validFiles('icon.png')) },
  { name: 'valid-icon-svg', kind: 'valid', expect: 'valid', build: () => yazlZip(validFiles('icon.svg')) },
  {
    name: 'valid-digest-stored',
    kind: 'valid',
    expect: 'valid',
    build: () =>
      rawZip([
        stored('app.yml', appYml({ version: '2.0.0-rc.1+build.7' })),
        stored(
          'docker-compose.yml',
          stringify(composeDocument({ image: `registry.example.com/notes/web@${DIGEST}` })),
        ),
      ]),
  },
];

export function corpusCases(): CorpusCase[] {
  const composeCases: CorpusCase[] = COMPOSE_ESCAPES.map((attempt) => ({
    name: `compose-${attempt.name}`,
    kind: 'compose',
    expect: attempt.expect,
    build: () =>
      release({
        'app.yml': appYml(attempt.manifest),
        'docker-compose.yml': stringify(attempt.document ?? composeDocument(attempt.web, attempt.top)),
      }),
  }));
  return [
    ...VALID_CASES,
    ...BOMB_CASES,
    ...ZIP_CASES.map((c) => ({ ...c, kind: 'zip' as const })),
    ...YAML_CASES.map((c) => ({ ...c, kind: 'yaml' as const })),
    ...MANIFEST_CASES.map((c) => ({ ...c, kind: 'manifest' as const })),
    ...ICON_CASES.map((c) => ({ ...c, kind: 'icon' as const })),
    ...composeCases,
  ];
}

/** Writes every case as `<dir>/<name>.zip`. */
export async function writeCorpus(dir: string, cases = corpusCases()): Promise<CorpusFile[]> {
  const files: CorpusFile[] = [];
  for (const { build, ...rest } of cases) {
    const path = join(dir, `${rest.name}.zip`);
    writeFileSync(path, await build(dir));
    files.push({ ...rest, path });
  }
  return files;
}
