import type { Logger } from '../../core/log.js';
import type { TlsMaterial } from '../../core/tls.js';
import type { TrustState } from '../../core/trust.js';
import { type AvailabilityEvent, type ParentAddress, ParentClient } from './parent-client.js';
import type { PickerParent } from './piece-picker.js';

/**
 * Connection pools to parents, shared by every download of the peer (one
 * keep-alive pool per parent host), bounded: the least recently used pool is
 * closed when there are too many. With `trust`, a pool whose parent's
 * certificate gets revoked is closed at once.
 */
export class ParentPools {
  private readonly pools = new Map<string, ParentClient>();

  constructor(
    private readonly tls: TlsMaterial,
    private readonly connectionsPerParent: number,
    private readonly maxPools = 256,
    private readonly trust?: TrustState,
  ) {
    trust?.on('change', this.closeRevoked);
  }

  private readonly closeRevoked = (): void => {
    for (const [key, client] of this.pools) {
      if (client.serial && this.trust?.isRevokedSerial(client.serial)) {
        this.pools.delete(key);
        void client.close();
      }
    }
  };

  get(address: ParentAddress): ParentClient {
    const key = `${address.hostId}@${address.ip}:${address.port}`;
    let client = this.pools.get(key);
    if (client) {
      this.pools.delete(key); // re-insert: Map order is the LRU order
    } else {
      client = new ParentClient(address, this.tls, this.connectionsPerParent, this.trust);
      if (this.pools.size >= this.maxPools) {
        const [oldestKey, oldest] = this.pools.entries().next().value as [string, ParentClient];
        this.pools.delete(oldestKey);
        void oldest.close();
      }
    }
    this.pools.set(key, client);
    return client;
  }

  async close(): Promise<void> {
    this.trust?.off('change', this.closeRevoked);
    await Promise.all([...this.pools.values()].map((c) => c.close()));
    this.pools.clear();
  }
}

/** One parent of one download: what it holds and how it is doing. */
export class ParentState implements PickerParent {
  readonly available = new Set<number>();
  inFlight = 0;
  coolUntil = 0;
  failures = 0;
  done = false;
  private readonly abort = new AbortController();

  constructor(
    readonly id: string,
    readonly client: ParentClient,
  ) {}

  has(n: number): boolean {
    return this.done || this.available.has(n);
  }

  /**
   * Follows the parent's availability stream. A parent that does not know the
   * task yet (it registered a moment ago) is asked again a few times.
   */
  async follow(taskId: string, onChange: () => void, log: Logger): Promise<void> {
    const apply = (event: AvailabilityEvent) => {
      if ('pieces' in event) for (const n of event.pieces) this.available.add(n);
      else if ('piece' in event) this.available.add(event.piece);
      else this.done = true;
      onChange();
    };
    for (let attempt = 0; attempt < 40 && !this.abort.signal.aborted; attempt++) {
      try {
        await this.client.watch(taskId, apply, this.abort.signal);
        return;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        const code = (err as { code?: string }).code;
        if (code !== 'PARENT_NO_TASK') throw err;
        log.debug({ parent: this.id }, 'parent does not have the task yet');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  stop(): void {
    this.abort.abort();
  }
}
