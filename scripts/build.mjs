// Bundles the CLI into dist/warren.mjs (plus chunks) (dependencies stay external) so that
// `warren` starts without compiling TypeScript on every run. bin/warren
// falls back to the sources whenever the bundle is older than them.
// Then builds the cloud's web console (web/, React + Vite) into dist/web.
import { join } from 'node:path';
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

// The console: index.html plus content-hashed files in dist/web/assets,
// served by src/cloud/routes/console.ts.
const { build: viteBuild } = await import('vite');
await viteBuild({
  configFile: join(import.meta.dirname, '..', 'web', 'vite.config.ts'),
  logLevel: 'warn',
});
