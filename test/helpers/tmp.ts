import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created: string[] = [];

/**
 * Creates a fresh folder under the OS temp dir and remembers it for
 * {@link cleanupTempDirs}. Set `WARREN_KEEP_TMP=1` to keep them for debugging.
 */
export function tempDir(prefix = 'warren-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Removes every folder made by {@link tempDir} (call it from an `after` hook). */
export function cleanupTempDirs(): void {
  if (process.env.WARREN_KEEP_TMP === '1') {
    if (created.length > 0) process.stderr.write(`kept temp dirs:\n  ${created.join('\n  ')}\n`);
    created.length = 0;
    return;
  }
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}
