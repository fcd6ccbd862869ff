// Bundles the CLI into dist/warren.mjs (plus chunks) (dependencies stay external) so that
// `warren` starts without compiling TypeScript on every run. bin/warren
// falls back to the sources whenever the bundle is older than them.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/index.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // Chunks for dynamic imports: a command loads only the roles it runs.
  splitting: true,
  outdir: 'dist',
  entryNames: 'warren',
  outExtension: { '.js': '.mjs' },
  sourcemap: 'linked',
  logLevel: 'warning',
});
