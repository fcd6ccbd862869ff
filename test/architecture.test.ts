import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from './helpers/processes.js';

/*
 * The import rules of docs/architecture.md, read from the sources:
 * - src/core imports nothing else from src/;
 * - a role (scheduler, peer, manager, store, cloud) imports only core,
 *   protocol, release and itself;
 * - only src/cli imports roles, and nothing imports src/cli;
 * - pure folders (evaluator/, resource/) do no I/O;
 * - code under src/ does not reach outside src/ (tests may use test/helpers).
 * Files over 400 lines are reported, not failed.
 */

const SRC = join(REPO_ROOT, 'src');
const ROLES = new Set(['scheduler', 'peer', 'manager', 'store', 'cloud']);
const SHARED = new Set(['core', 'protocol', 'release']);
const IO_MODULES = new Set([
  'fs',
  'fs/promises',
  'net',
  'tls',
  'http',
  'https',
  'http2',
  'dgram',
  'child_process',
  'worker_threads',
]);
const MAX_LINES = 400;

interface SourceFile {
  /** Path relative to src/, with '/' separators. */
  path: string;
  /** Top folder under src/ ('core', 'peer', …). */
  area: string;
  text: string;
  imports: string[];
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return listTs(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function load(full: string): SourceFile {
  const path = relative(SRC, full).split(sep).join('/');
  const text = readFileSync(full, 'utf8');
  const imports = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  return { path, area: path.split('/')[0]!, text, imports };
}

const files = listTs(SRC)
  .map(load)
  .filter((f) => !f.path.startsWith('protocol/gen/'));

/** The src/ area a relative import lands in, 'outside:<path>' beyond src/, or undefined for packages. */
function targetArea(file: SourceFile, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = resolve(dirname(join(SRC, file.path)), specifier);
  const rel = relative(SRC, target).split(sep).join('/');
  if (rel.startsWith('..')) return `outside:${relative(REPO_ROOT, target).split(sep).join('/')}`;
  return rel.split('/')[0];
}

function violations(
  rule: (file: SourceFile, area: string, specifier: string) => string | undefined,
): string[] {
  const found: string[] = [];
  for (const file of files) {
    for (const specifier of file.imports) {
      const area = targetArea(file, specifier);
      if (area === undefined) continue;
      const why = rule(file, area, specifier);
      if (why) found.push(`src/${file.path} imports '${specifier}': ${why}`);
    }
  }
  return found;
}

test('the architecture test sees the sources', () => {
  assert.ok(files.some((f) => f.path === 'core/config.ts'));
  assert.ok(files.length > 5);
});

test('src/core imports nothing else from src/', () => {
  assert.deepEqual(
    violations((file, area) =>
      file.area === 'core' && area !== 'core' && !area.startsWith('outside:')
        ? `core may not import ${area}`
        : undefined,
    ),
    [],
  );
});

test('roles import only core, protocol, release and themselves', () => {
  assert.deepEqual(
    violations((file, area) => {
      if (!ROLES.has(file.area) || area === file.area || SHARED.has(area) || area.startsWith('outside:'))
        return;
      return `role ${file.area} may import only core, protocol, release and itself, not ${area}`;
    }),
    [],
  );
});

test('only src/cli imports roles, and nothing imports src/cli', () => {
  assert.deepEqual(
    violations((file, area) => {
      if (ROLES.has(area) && file.area !== area && file.area !== 'cli')
        return `only src/cli may import role ${area}`;
      if (area === 'cli' && file.area !== 'cli') return 'src/cli is the top; nothing imports it';
      return undefined;
    }),
    [],
  );
});

test('code under src/ does not import from outside src/ (tests may use test/helpers)', () => {
  assert.deepEqual(
    violations((file, area) => {
      if (!area.startsWith('outside:')) return;
      const isTest = file.path.endsWith('.test.ts');
      return isTest && area.startsWith('outside:test/helpers/')
        ? undefined
        : `${area.slice(8)} is outside src/`;
    }),
    [],
  );
});

test('pure folders (evaluator/, resource/) import no I/O modules', () => {
  const pure = files.filter(
    (f) => /(^|\/)(evaluator|resource)\//.test(f.path) && !f.path.endsWith('.test.ts'),
  );
  const found = pure.flatMap((file) =>
    file.imports
      .filter((specifier) => IO_MODULES.has(specifier.replace(/^node:/, '')))
      .map((specifier) => `src/${file.path} imports '${specifier}' in a pure folder`),
  );
  assert.deepEqual(found, []);
});

test(`files over ${MAX_LINES} lines are reported`, (t) => {
  for (const file of files) {
    const lines = file.text.split('\n').length;
    if (lines > MAX_LINES)
      t.diagnostic(`warning: src/${file.path} has ${lines} lines (look twice past ${MAX_LINES})`);
  }
});
