/**
 * Which tasks disk GC removes. Pure: no I/O.
 *
 * Rule (Dragonfly's defaults: task TTL 30 days, watermarks 80%/60%):
 * 1. every task not accessed within `taskTtl` goes;
 * 2. then, if usage is above the high watermark, the least recently used
 *    tasks go until usage is at or below the low watermark.
 * A task in use (being downloaded, uploaded or read) is never chosen.
 */
export interface GcTask {
  id: string;
  lastAccess: number;
  bytes: number;
  inUse: boolean;
}

export interface GcPolicy {
  taskTtl: number;
  /** Fractions of capacity, 0..1. */
  highWatermark: number;
  lowWatermark: number;
}

export interface GcUsage {
  used: number;
  capacity: number;
}

export interface GcDecision {
  id: string;
  reason: 'expired' | 'watermark';
}

export function planGc(tasks: GcTask[], usage: GcUsage, policy: GcPolicy, now: number): GcDecision[] {
  const out: GcDecision[] = [];
  let used = usage.used;
  const idle = tasks.filter((t) => !t.inUse).sort((a, b) => a.lastAccess - b.lastAccess);
  const left: GcTask[] = [];
  for (const t of idle) {
    if (now - t.lastAccess > policy.taskTtl) {
      out.push({ id: t.id, reason: 'expired' });
      used -= t.bytes;
    } else {
      left.push(t);
    }
  }
  if (used <= policy.highWatermark * usage.capacity) return out;
  for (const t of left) {
    if (used <= policy.lowWatermark * usage.capacity) break;
    out.push({ id: t.id, reason: 'watermark' });
    used -= t.bytes;
  }
  return out;
}
