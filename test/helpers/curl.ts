import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** What one `curl` run answered: exit code, the final response's status and headers, the body. */
export interface CurlResult {
  exitCode: number;
  status: number;
  /** Headers of the last response (after a CONNECT's `200 Connection Established`), lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
  stderr: string;
}

let counter = 0;

/**
 * Runs the real curl (`-sS`, body and headers to files in `dir`) with
 * `args`, e.g. `['-x', 'http://127.0.0.1:4001', url]`. No proxy variables
 * reach it from the environment: only `-x` names a proxy.
 */
export async function curl(dir: string, args: string[], timeoutMs = 60_000): Promise<CurlResult> {
  const id = ++counter;
  const bodyFile = join(dir, `curl-${id}.body`);
  const headerFile = join(dir, `curl-${id}.headers`);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(
        'curl',
        ['-sS', '-o', bodyFile, '-D', headerFile, '-w', '%{http_code}', ...args],
        { timeout: timeoutMs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
        (err, out, errOut) => {
          const exit = err ? ((err as { code?: number }).code ?? 1) : 0;
          resolve({ code: typeof exit === 'number' ? exit : 1, stdout: out, stderr: errOut });
        },
      );
    },
  );
  const body = await readFile(bodyFile).catch(() => Buffer.alloc(0));
  const rawHeaders = await readFile(headerFile, 'utf8').catch(() => '');
  await rm(bodyFile, { force: true });
  await rm(headerFile, { force: true });
  const blocks = rawHeaders.split(/\r?\n\r?\n/).filter((b) => b.trim());
  const last = blocks.at(-1) ?? '';
  const headers: Record<string, string> = {};
  for (const line of last.split(/\r?\n/).slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { exitCode: code, status: Number(stdout.trim()) || 0, headers, body, stderr };
}
