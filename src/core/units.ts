import { WarrenError } from './errors.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Parses '64MiB', '1.5GB', '4096' into bytes. */
export function parseSize(value: string | number, what = 'size'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw bad(what, String(value), 'a size');
    return Math.floor(value);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = SIZE_UNITS[match?.[2]?.toLowerCase() ?? 'x'];
  if (!match || unit === undefined) throw bad(what, value, "a size like '64MiB'");
  return Math.floor(Number(match[1]) * unit);
}

/** Parses '30s', '15m', '720h', '250ms' into milliseconds. */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw bad(what, String(value), 'a duration');
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  const unit = DURATION_UNITS[match?.[2] ?? 'x'];
  if (!match || unit === undefined) throw bad(what, value, "a duration like '30s', '15m' or '720h'");
  return Number(match[1]) * unit;
}

/** 52428800 -> '50.0 MiB' */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function bad(what: string, value: string, expected: string): WarrenError {
  return new WarrenError('BAD_UNIT', `${what}: '${value}' is not ${expected}`, 400);
}
