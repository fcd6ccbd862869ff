import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { isTaskId } from '../../core/task.js';
import { StoredTask, type TaskMeta } from './stored-task.js';

/** All tasks of one peer, under `<data>/tasks/<taskId>/`. */
export class TaskStore {
  private readonly tasks = new Map<string, StoredTask>();
  private readonly creating = new Map<string, Promise<StoredTask>>();
  /** Folders being deleted: a task of the same id is created only once its old folder is gone. */
  private readonly removing = new Map<string, Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly maxTasks = 10_000,
  ) {}

  /** Reads every task left on disk by an earlier run. */
  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      if (!isTaskId(name)) continue;
      const dir = join(this.dir, name);
      try {
        const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as TaskMeta;
        if (meta.taskId !== name) throw new Error('meta.json names another task');
        const task = new StoredTask(dir, meta);
        await task.loadPieces();
        const st = await stat(join(dir, 'meta.json'));
        task.lastAccess = st.mtimeMs;
        this.tasks.set(name, task);
      } catch (err) {
        this.log.warn({ taskId: name, err: String(err) }, 'dropping unreadable task folder');
        await rm(dir, { recursive: true, force: true });
      }
    }
    this.log.info({ tasks: this.tasks.size }, 'task store loaded');
  }

  get(taskId: string): StoredTask | undefined {
    return this.tasks.get(taskId);
  }

  /** The task, created (once, even under concurrent calls) if this peer does not have it. */
  getOrCreate(init: Omit<TaskMeta, 'digests' | 'createdAt'>): Promise<StoredTask> {
    const existing = this.tasks.get(init.taskId);
    if (existing && !existing.removed) return Promise.resolve(existing);
    let pending = this.creating.get(init.taskId);
    if (!pending) {
      pending = this.create(init).finally(() => this.creating.delete(init.taskId));
      this.creating.set(init.taskId, pending);
    }
    return pending;
  }

  private async create(init: Omit<TaskMeta, 'digests' | 'createdAt'>): Promise<StoredTask> {
    // A failed blob is removed while a client may already ask for it again:
    // without this wait the old removal would delete the new task's folder.
    await this.removing.get(init.taskId);
    if (this.tasks.size >= this.maxTasks) {
      throw new WarrenError('TOO_MANY_TASKS', `this peer already holds ${this.maxTasks} tasks`, 507);
    }
    const dir = join(this.dir, init.taskId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const task = new StoredTask(dir, { ...init, digests: [], createdAt: Date.now() });
    await task.saveMeta();
    this.tasks.set(init.taskId, task);
    return task;
  }

  list(): StoredTask[] {
    return [...this.tasks.values()];
  }

  /** Removes a task and its bytes; refuses while it is in use unless `force`. */
  async remove(taskId: string, options: { force?: boolean } = {}): Promise<void> {
    const task = this.tasks.get(taskId);
    if (!task) throw new WarrenError('TASK_NOT_FOUND', `no task ${taskId} on this peer`, 404);
    if (task.inUse && !options.force) {
      throw new WarrenError('TASK_IN_USE', `task ${taskId} is in use (being downloaded or read)`, 409);
    }
    task.removed = true;
    this.tasks.delete(taskId);
    const removal = (async () => {
      await task.close();
      task.emit('removed');
      await rm(task.dir, { recursive: true, force: true });
    })();
    const settled = removal
      .catch(() => undefined)
      .finally(() => {
        if (this.removing.get(taskId) === settled) this.removing.delete(taskId);
      });
    this.removing.set(taskId, settled);
    await removal;
  }

  async close(): Promise<void> {
    for (const task of this.tasks.values()) await task.close();
  }
}
