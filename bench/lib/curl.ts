import { execFile } from 'node:child_process';

export interface CurlOptions {
  /** CA certificate file to trust (`--cacert`). */
  cacert?: string;
  /** Client certificate and key files, for mTLS. */
  cert?: string;
  key?: string;
  headers?: Record<string, string>;
  /** Give up after this many seconds (`--max-time`); default 600. */
  timeoutSec?: number;
}

export interface CurlResult {
  /** curl's own `time_total`: from the start of the connection to the last byte. */
  seconds: number;
  bytes: number;
  bytesPerSec: number;
  httpCode: number;
}

/**
 * Downloads `url` to `out` with `curl -s -o OUT` over HTTP/1.1 and returns
 * curl's own timing, the baseline the benchmarks compare Warren against.
 * Rejects on any HTTP error (`--fail`).
 */
export function curlDownload(url: string, out: string, options: CurlOptions = {}): Promise<CurlResult> {
  const args = [
    '-s',
    '-S',
    '--fail',
    '--http1.1',
    '-o',
    out,
    '-w',
    '%{time_total} %{size_download} %{http_code}',
  ];
  args.push('--max-time', String(options.timeoutSec ?? 600));
  if (options.cacert) args.push('--cacert', options.cacert);
  if (options.cert) args.push('--cert', options.cert);
  if (options.key) args.push('--key', options.key);
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      args,
      { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`curl ${url} failed: ${stderr.trim() || err.message}`));
          return;
        }
        const [time, size, code] = stdout.trim().split(' ').map(Number);
        const seconds = time ?? Number.NaN;
        const bytes = size ?? 0;
        resolve({ seconds, bytes, bytesPerSec: bytes / seconds, httpCode: code ?? 0 });
      },
    );
  });
}
