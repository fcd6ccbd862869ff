import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WarrenError } from '../../core/errors.js';

/*
 * Apps uninstalled with "keep data": their volumes stay in the engine with
 * no apps row, and reconcile must tell them from orphans (which it removes).
 * A small JSON file in the data folder, written atomically; reinstalling the
 * app picks its volumes up again and drops the entry.
 */

export const MAX_KEPT_APPS = 1_000;

interface KeptEntry {
  removedAt: string;
  version: string;
}

export class KeptData {
  private entries = new Map<string, KeptEntry>();
  private readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    this.path = join(dataDir, 'apps', 'kept-data.json');
  }

  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const value = JSON.parse(text) as Record<string, KeptEntry>;
      this.entries = new Map(Object.entries(value).slice(0, MAX_KEPT_APPS));
    } catch {
      throw new WarrenError('KEPT_DATA_CORRUPT', `${this.path} is not valid JSON: fix or remove it`, 500);
    }
  }

  has(appId: string): boolean {
    return this.entries.has(appId);
  }

  list(): string[] {
    return [...this.entries.keys()];
  }

  async add(appId: string, version: string): Promise<void> {
    if (!this.entries.has(appId) && this.entries.size >= MAX_KEPT_APPS) {
      throw new WarrenError('TOO_MANY_KEPT', `data of more than ${MAX_KEPT_APPS} removed apps is kept`, 409);
    }
    this.entries.set(appId, { removedAt: new Date().toISOString(), version });
    await this.save();
  }

  async delete(appId: string): Promise<void> {
    if (this.entries.delete(appId)) await this.save();
  }

  private save(): Promise<void> {
    const text = `${JSON.stringify(Object.fromEntries(this.entries), null, 2)}\n`;
    this.writing = this.writing
      .catch(() => {})
      .then(async () => {
        const temp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
        await writeFile(temp, text, { mode: 0o600 });
        await rename(temp, this.path);
      });
    return this.writing;
  }
}
