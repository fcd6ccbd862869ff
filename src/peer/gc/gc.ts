import { statfs } from 'node:fs/promises';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { TaskStore } from '../storage/task-store.js';
import { type GcPolicy, planGc } from './gc-plan.js';

export interface GcInit extends GcPolicy {
  interval: number;
  /** Bytes the store may use; 0 means "the filesystem's capacity". */
  diskQuota: number;
}

/** Periodic disk GC of a peer's task store. */
export class DiskGc {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<string[]> | undefined;

  constructor(
    private readonly c: { store: TaskStore; log: Logger; onRemoved(taskId: string): void },
    private readonly init: GcInit,
    private readonly dir: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.run(), this.init.interval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Applies a policy from the cluster configuration (the manager's), key by key. */
  updatePolicy(policy: Partial<GcPolicy>): void {
    const next = { ...this.init, ...policy };
    if (next.lowWatermark > next.highWatermark) return; // an inconsistent pair keeps the current one
    Object.assign(this.init, policy);
  }

  /** One GC pass; returns the removed task IDs. Passes never overlap. */
  run(): Promise<string[]> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<string[]> {
    const tasks = await Promise.all(
      this.c.store.list().map(async (t) => ({
        id: t.id,
        lastAccess: t.lastAccess,
        bytes: await t.diskUsage(),
        inUse: t.inUse,
      })),
    );
    const usage = await this.usage(tasks.reduce((sum, t) => sum + t.bytes, 0));
    const removed: string[] = [];
    for (const decision of planGc(tasks, usage, this.init, Date.now())) {
      const task = this.c.store.get(decision.id);
      if (!task || task.inUse) continue; // it became busy since the plan was made
      try {
        await this.c.store.remove(decision.id);
        removed.push(decision.id);
        this.c.onRemoved(decision.id);
        this.c.log.info({ taskId: decision.id, reason: decision.reason }, 'GC removed task');
      } catch (err) {
        this.c.log.warn({ taskId: decision.id, err: errorMessage(err) }, 'GC could not remove task');
      }
    }
    return removed;
  }

  private async usage(storeBytes: number): Promise<{ used: number; capacity: number }> {
    if (this.init.diskQuota > 0) return { used: storeBytes, capacity: this.init.diskQuota };
    const fs = await statfs(this.dir);
    const capacity = fs.blocks * fs.bsize;
    return { used: capacity - fs.bavail * fs.bsize, capacity };
  }
}
