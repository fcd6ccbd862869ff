import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The repository root (found from this file, not hard-coded). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `warren` executable. */
export const WARREN_BIN = join(REPO_ROOT, 'bin', 'warren');

export type WarrenProcess = ChildProcessByStdio<null, Readable, Readable>;

export interface SpawnOptions {
  /** Added to (and overriding) the test process's environment. */
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  cwd?: string;
  /** Written to the process's stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string;
}

/** The line a role prints on stdout once it listens. */
export interface ListeningLine {
  listening: string;
  ops?: string;
  socket?: string;
  [key: string]: unknown;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const STDERR_LIMIT = 64 * 1024;
const STDOUT_LINES_LIMIT = 1000;

interface Capture {
  stderr: string[];
  stderrChars: number;
  lines: string[];
  onLine: Set<(line: string) => void>;
  exited: Promise<ExitStatus>;
}

const captures = new WeakMap<WarrenProcess, Capture>();
const running = new Set<WarrenProcess>();

// A test file that crashes must not leave daemons behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `node bin/warren ...args`. stdout is split into lines (kept, bounded,
 * for {@link waitForLine}); stderr goes to a bounded ring buffer for
 * {@link stderrOf}. Every child is tracked until it exits, for {@link killAll}.
 */
export function spawnWarren(args: string[], options: SpawnOptions = {}): WarrenProcess {
  // A variable given as undefined is removed from the inherited environment.
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...options.env }).filter(([, value]) => value !== undefined),
  );
  const spawned = spawn(process.execPath, [WARREN_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  if (options.stdin !== undefined) spawned.stdin?.end(options.stdin);
  const child = spawned as unknown as WarrenProcess;
  running.add(child);
  const capture: Capture = {
    stderr: [],
    stderrChars: 0,
    lines: [],
    onLine: new Set(),
    exited: new Promise((resolve) => {
      child.once('close', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      });
    }),
  };
  captures.set(child, capture);
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    capture.stderr.push(text);
    capture.stderrChars += text.length;
    while (capture.stderrChars > STDERR_LIMIT && capture.stderr.length > 1) {
      capture.stderrChars -= capture.stderr.shift()!.length;
    }
  });
  let partial = '';
  const addLine = (line: string) => {
    capture.lines.push(line);
    if (capture.lines.length > STDOUT_LINES_LIMIT) capture.lines.shift();
    for (const listener of capture.onLine) listener(line);
  };
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    for (const line of parts) addLine(line);
  });
  child.stdout.once('end', () => {
    if (partial !== '') addLine(partial);
  });
  child.once('error', (err) => {
    capture.stderr.push(`spawn error: ${err.message}\n`);
  });
  return child;
}

/** The last 64 KiB of what the process wrote to stderr. */
export function stderrOf(child: WarrenProcess): string {
  return captureOf(child).stderr.join('');
}

/** The stdout lines seen so far (the last 1,000). */
export function stdoutLinesOf(child: WarrenProcess): string[] {
  return [...captureOf(child).lines];
}

/** Resolves when the process has exited (immediately if it already has). */
export function exited(child: WarrenProcess): Promise<ExitStatus> {
  return captureOf(child).exited;
}

/**
 * Resolves with the first stdout line (already seen or still to come) for
 * which `match` returns a value other than undefined. Rejects, with the
 * captured stderr, on timeout or when the process exits first.
 */
export function waitForLine<T>(
  child: WarrenProcess,
  match: (line: string) => T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const capture = captureOf(child);
  for (const line of capture.lines) {
    const found = match(line);
    if (found !== undefined) return Promise.resolve(found);
  }
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      capture.onLine.delete(listener);
    };
    const listener = (line: string) => {
      const found = match(line);
      if (found === undefined) return;
      done();
      resolve(found);
    };
    const timer = setTimeout(() => {
      done();
      reject(failure(child, `no matching stdout line within ${timeoutMs} ms`));
    }, timeoutMs);
    capture.onLine.add(listener);
    void capture.exited.then((status) => {
      done();
      reject(failure(child, `exited (code ${status.code}, signal ${status.signal}) before printing it`));
    });
  });
}

/** Resolves with the first stdout line that is JSON with a `listening` field. */
export function waitForJsonLine(child: WarrenProcess, timeoutMs = 30_000): Promise<ListeningLine> {
  return waitForLine(child, parseListening, timeoutMs);
}

/**
 * Sends `signal` and waits for the exit; if the process is still there after
 * `timeoutMs`, sends SIGKILL and waits again.
 */
export async function kill(
  child: WarrenProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 10_000,
): Promise<ExitStatus> {
  const capture = captureOf(child);
  if (!running.has(child)) return capture.exited;
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, undefined);
  });
  const status = await Promise.race([capture.exited, late]);
  clearTimeout(timer);
  if (status) return status;
  child.kill('SIGKILL');
  return capture.exited;
}

/** SIGKILLs every process started by {@link spawnWarren} that still runs, and waits for them. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((child) => kill(child, 'SIGKILL')));
}

export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

/**
 * Runs a short-lived command (`warren get`, `warren task ls`, …) to its end and
 * returns its exit status and output. SIGKILLs it and rejects after `timeoutMs`.
 */
export async function runWarren(
  args: string[],
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  const child = spawnWarren(args, options);
  const stdout: string[] = [];
  const capture = captureOf(child);
  capture.onLine.add((line) => stdout.push(line));
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, undefined);
  });
  const status = await Promise.race([capture.exited, late]);
  clearTimeout(timer);
  if (!status) {
    await kill(child, 'SIGKILL');
    throw failure(child, `warren ${args.join(' ')} did not finish within ${timeoutMs} ms`);
  }
  return { ...status, stdout: stdout.join('\n'), stderr: stderrOf(child) };
}

function parseListening(line: string): ListeningLine | undefined {
  if (!line.trimStart().startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    if (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as ListeningLine).listening === 'string'
    ) {
      return value as ListeningLine;
    }
  } catch {
    // a log line that merely looks like JSON
  }
  return undefined;
}

function captureOf(child: WarrenProcess): Capture {
  const capture = captures.get(child);
  if (!capture) throw new Error('not a process started by spawnWarren');
  return capture;
}

function failure(child: WarrenProcess, what: string): Error {
  return new Error(`warren (pid ${child.pid}) ${what}; stderr:\n${stderrOf(child) || '(empty)'}`);
}
