import { WarrenError } from '../../core/errors.js';
import type { HealthConfig, Mount } from '../docker/types.js';

/*
 * Compose values (already checked by src/core/release/compose.ts) turned into
 * Engine API values: durations, command strings, environment, restart
 * policies, health checks, exposed ports, tmpfs options. Pure.
 */

export function composeRefusal(where: string, message: string): WarrenError {
  return new WarrenError('SANDBOX_COMPOSE_REFUSED', `docker-compose.yml: ${where}: ${message}`, 422);
}

const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/g;
const NANOS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** '30s', '1m30s', '1.5h', '250ms' -> nanoseconds. */
export function durationNanos(value: string, where: string): number {
  if (!/^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+$/.test(value)) {
    throw composeRefusal(where, `${JSON.stringify(value)} is not a duration like 30s or 1m30s`);
  }
  let total = 0;
  for (const [, amount, unit] of value.matchAll(DURATION_PART)) total += Number(amount) * NANOS[unit!]!;
  return Math.round(total);
}

/**
 * A command string split like a POSIX shell splits words (compose does the
 * same; it is not run through a shell): blanks separate, single quotes are
 * literal, double quotes allow \" \\ \$ \` escapes, a backslash outside
 * quotes escapes the next character.
 */
export function splitCommand(text: string, where: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < text.length) word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw composeRefusal(where, 'has an unterminated quote');
  if (inWord) words.push(word);
  return words;
}

export function commandList(value: unknown, where: string): string[] {
  return typeof value === 'string' ? splitCommand(value, where) : (value as string[]);
}

/**
 * `NAME=value` lines. A variable without a value (`NAME` or `NAME:` with
 * nothing) would take the host's value in compose; Warren never passes the
 * host's environment to an app, so it is left out.
 */
export function environment(value: unknown): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return (value as string[]).filter((item) => item.includes('='));
  const env: string[] = [];
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== null && v !== undefined) env.push(`${name}=${String(v)}`);
  }
  return env;
}

type RestartName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

/** compose `restart` -> RestartPolicy; default unless-stopped (apps come back after an engine restart). */
export function restartPolicy(value: unknown): { Name: RestartName; MaximumRetryCount: number } {
  if (typeof value !== 'string') return { Name: 'unless-stopped', MaximumRetryCount: 0 };
  const [name, count] = value.split(':') as [RestartName, string | undefined];
  return { Name: name, MaximumRetryCount: name === 'on-failure' && count ? Number(count) : 0 };
}

const HEALTH_TEST_KINDS = new Set(['CMD', 'CMD-SHELL', 'NONE']);

/** compose `healthcheck` -> HealthConfig (`start_interval` needs API 1.44 and is left out). */
export function healthcheck(value: Record<string, unknown>, where: string): HealthConfig {
  if (value['disable'] === true) return { Test: ['NONE'] };
  const test = value['test'];
  const config: HealthConfig = { Test: [] };
  if (typeof test === 'string') config.Test = ['CMD-SHELL', test];
  else if (Array.isArray(test)) {
    if (!HEALTH_TEST_KINDS.has(test[0] as string)) {
      throw composeRefusal(`${where}.test`, 'a list must start with CMD, CMD-SHELL or NONE');
    }
    config.Test = test as string[];
  } else {
    // No test: the image's HEALTHCHECK with these timings (Docker's rule for an empty Test).
  }
  if (typeof value['interval'] === 'string')
    config.Interval = durationNanos(value['interval'], `${where}.interval`);
  if (typeof value['timeout'] === 'string')
    config.Timeout = durationNanos(value['timeout'], `${where}.timeout`);
  if (typeof value['start_period'] === 'string') {
    config.StartPeriod = durationNanos(value['start_period'], `${where}.start_period`);
  }
  if (typeof value['retries'] === 'number') config.Retries = value['retries'];
  return config;
}

/** At most this many ports exposed by one service (ranges expand). */
export const MAX_EXPOSED_PORTS = 1024;

/** `expose` entries ('8080', '8080/udp', '8000-8010') -> ExposedPorts keys ('8080/tcp'). */
export function exposedPorts(value: unknown, extra: number | undefined, where: string): string[] {
  const ports = new Set<string>();
  if (extra !== undefined) ports.add(`${extra}/tcp`);
  for (const [i, item] of ((value as unknown[]) ?? []).entries()) {
    const [range, proto = 'tcp'] = String(item).split('/');
    const [first, last = first] = range!.split('-').map(Number) as [number, number?];
    if (!(first >= 1 && last! <= 65535 && first <= last!)) {
      throw composeRefusal(`${where}[${i}]`, `${JSON.stringify(item)} is not a port or a port range`);
    }
    if (ports.size + (last! - first) >= MAX_EXPOSED_PORTS) {
      throw composeRefusal(where, `exposes more than ${MAX_EXPOSED_PORTS} ports`);
    }
    for (let port = first; port <= last!; port++) ports.add(`${port}/${proto}`);
  }
  return [...ports];
}

const TMPFS_FLAGS = new Set(['exec', 'noexec', 'nosuid', 'nodev', 'ro', 'rw', 'noatime', 'nodiratime']);

/**
 * The options of a `tmpfs:` entry (`size=64m,mode=1777,exec`). A tmpfs is
 * memory: its size is capped to the container's memory limit and set to it
 * when the app gives none. `suid` and `dev` are refused (set-id programs,
 * device files).
 */
export function tmpfsOptions(options: string | undefined, memoryBytes: number, where: string): string {
  const out: string[] = [];
  let size: number | undefined;
  for (const option of (options ?? '').split(',').filter(Boolean)) {
    const [key, value] = option.split('=', 2) as [string, string | undefined];
    if (key === 'size' && value !== undefined) size = tmpfsSize(value, where);
    else if (key === 'mode' && value !== undefined && /^[0-7]{1,4}$/.test(value)) out.push(option);
    else if ((key === 'uid' || key === 'gid') && value !== undefined && /^[0-9]{1,10}$/.test(value))
      out.push(option);
    else if (value === undefined && TMPFS_FLAGS.has(key)) out.push(option);
    else throw composeRefusal(where, `tmpfs option ${JSON.stringify(option)} is not allowed`);
  }
  out.unshift(`size=${Math.min(size ?? memoryBytes, memoryBytes)}`);
  return out.join(',');
}

/** '64m', '1g', '512k', '4096' -> bytes. */
export function tmpfsSize(value: string | number, where: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  const match = /^([0-9]{1,15})([kmg]?)$/i.exec(String(value));
  if (!match) throw composeRefusal(where, `tmpfs size ${JSON.stringify(value)} is not like 64m`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  return Number(match[1]) * unit;
}

/** One entry of a service's `volumes` as a Mount; `named` maps a compose volume to its Docker name. */
export function toMount(
  item: unknown,
  memoryBytes: number,
  where: string,
  named: (source: string) => string,
): Mount {
  if (typeof item === 'string') {
    const parts = item.split(':');
    if (parts.length === 1) return { Type: 'volume', Target: item };
    return { Type: 'volume', Source: named(parts[0]!), Target: parts[1]!, ReadOnly: parts[2] === 'ro' };
  }
  const long = item as Record<string, unknown>;
  if (long['type'] === 'tmpfs') {
    const options = (long['tmpfs'] ?? {}) as { size?: string | number; mode?: unknown };
    const size = options.size === undefined ? memoryBytes : tmpfsSize(options.size, `${where}.tmpfs.size`);
    const mode = options.mode;
    if (
      mode !== undefined &&
      !(Number.isInteger(mode) && (mode as number) >= 0 && (mode as number) <= 0o7777)
    ) {
      throw composeRefusal(`${where}.tmpfs.mode`, `${JSON.stringify(mode)} is not a file mode`);
    }
    return {
      Type: 'tmpfs',
      Target: long['target'] as string,
      TmpfsOptions: {
        SizeBytes: Math.min(size, memoryBytes),
        ...(mode !== undefined ? { Mode: mode as number } : {}),
      },
    };
  }
  const nocopy = (long['volume'] as { nocopy?: unknown } | undefined)?.nocopy === true;
  return {
    Type: 'volume',
    ...(typeof long['source'] === 'string' ? { Source: named(long['source']) } : {}),
    Target: long['target'] as string,
    ReadOnly: long['read_only'] === true,
    ...(nocopy ? { VolumeOptions: { NoCopy: true } } : {}),
  };
}

/** The `tmpfs:` key as HostConfig.Tmpfs, each sized within the container's memory. */
export function tmpfsEntries(value: unknown, memoryBytes: number, where: string): Record<string, string> {
  if (value === undefined) return {};
  const entries: Record<string, string> = {};
  for (const [i, item] of (Array.isArray(value) ? value : [value]).entries()) {
    const [target, options] = (item as string).split(/:(.*)/s, 2) as [string, string | undefined];
    entries[target] = tmpfsOptions(options, memoryBytes, Array.isArray(value) ? `${where}[${i}]` : where);
  }
  return entries;
}
