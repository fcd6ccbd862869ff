import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx/3xx answers plus socket errors: a run with many is not a throughput figure. */
  errors: number;
}

export interface WrkOptions {
  url: string;
  durationS: number;
  connections: number;
  threads: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Folder for the Lua script that sets method, headers and body. */
  scratchDir: string;
  /**
   * Pause before each request of a connection (wrk's `delay()`): a paced load
   * below saturation, so that two servers are compared at the same offered
   * rate instead of each at its own maximum (where the slower one queues).
   */
  delayMs?: number;
}

/**
 * Runs Debian's `wrk` (HTTP/1.1 keep-alive load, TLS without verification) and
 * parses its `--latency` report.
 */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const script = join(options.scratchDir, `wrk-${Math.random().toString(36).slice(2)}.lua`);
  const lua = [
    `wrk.method = ${JSON.stringify(options.method ?? 'GET')}`,
    ...Object.entries(options.headers ?? {}).map(
      ([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`,
    ),
    options.body === undefined ? '' : `wrk.body = ${JSON.stringify(options.body)}`,
    options.delayMs === undefined
      ? ''
      : `function delay() return ${Math.max(0, Math.round(options.delayMs))} end`,
    // Count non-2xx answers: wrk reports them, but only as a total line.
  ].join('\n');
  writeFileSync(script, `${lua}\n`);
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.durationS}s`,
    '--latency',
    '-s',
    script,
    options.url,
  ];
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`)),
    );
  });
  return parseWrk(out);
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${out}`);
  const latency = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return Number.NaN;
    const value = Number(m[1]);
    return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requestsPerSecond: Number(rps[1]),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests: Number(total[1]),
    errors: (non2xx ? Number(non2xx[1]) : 0) + socketErrors,
  };
}
