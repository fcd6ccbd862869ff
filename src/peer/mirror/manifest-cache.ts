/** All manifests in the cache together stay under this many bytes. */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/**
 * Manifests by digest, verified before they are put here (so the key is
 * their content's hash, whichever registry sent them): least recently used
 * goes first, bounded by count and total bytes.
 */
export class ManifestCache {
  private readonly entries = new Map<string, { mediaType: string; body: Buffer }>();
  private bytes = 0;

  constructor(private readonly max: number) {}

  get(digest: string): { mediaType: string; body: Buffer } | undefined {
    const entry = this.entries.get(digest);
    if (entry) {
      this.entries.delete(digest);
      this.entries.set(digest, entry);
    }
    return entry;
  }

  set(digest: string, mediaType: string, body: Buffer): void {
    if (this.max === 0 || body.length > MAX_TOTAL_BYTES) return;
    const old = this.entries.get(digest);
    if (old) {
      this.bytes -= old.body.length;
      this.entries.delete(digest);
    }
    this.entries.set(digest, { mediaType, body });
    this.bytes += body.length;
    while (this.entries.size > this.max || this.bytes > MAX_TOTAL_BYTES) {
      const [oldest, entry] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.bytes -= entry.body.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
