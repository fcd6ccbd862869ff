import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/*
 * The console's build: `npm run build` (scripts/build.mjs) runs it, output in
 * dist/web (index.html plus content-hashed files in assets/), served by
 * src/cloud/routes/console.ts under a strict Content-Security-Policy: no
 * inline script or style ends up in the output (scripts and CSS are files).
 */
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // Every browser that runs the console supports modulepreload; the
    // polyfill would only add code.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URLs into scripts or CSS.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
});
