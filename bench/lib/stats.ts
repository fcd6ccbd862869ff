import { readFileSync } from 'node:fs';

/** Summary of a sample: count, extremes, mean and the usual percentiles. */
export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p99: number;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for an empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Median: the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    min: n ? Math.min(...values) : Number.NaN,
    max: n ? Math.max(...values) : Number.NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : Number.NaN,
    p50: median(values),
    p99: percentile(values, 99),
  };
}

/** 0.734 -> '0.73×'. */
export function formatRatio(ratio: number, digits = 2): string {
  return `${ratio.toFixed(digits)}×`;
}

/** Bytes per second -> '512.3 MiB/s'. */
export function formatRate(bytesPerSec: number): string {
  return `${(bytesPerSec / 1024 / 1024).toFixed(1)} MiB/s`;
}

/** Bytes -> '123.4 MiB'. */
export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** One Markdown table row: `| a | b | c |`. */
export function markdownRow(cells: readonly (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

/**
 * A process's peak resident set size in bytes (VmHWM in /proc/PID/status),
 * or undefined once the process is gone. Read it before the process exits,
 * or use {@link watchPeakRss}.
 */
export function peakRss(pid: number): number | undefined {
  return statusKiB(pid, 'VmHWM');
}

/** Current resident set size in bytes (VmRSS), or undefined. */
export function currentRss(pid: number): number | undefined {
  return statusKiB(pid, 'VmRSS');
}

/**
 * Polls VmHWM of `pid` every `intervalMs`, so the peak is known even if the
 * process exits before the benchmark asks. `stop()` returns the highest seen.
 */
export function watchPeakRss(pid: number, intervalMs = 200): { stop(): number } {
  let peak = peakRss(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, peakRss(pid) ?? 0);
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, peakRss(pid) ?? 0);
      return peak;
    },
  };
}

function statusKiB(pid: number, field: string): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}
