/** Which pieces of a task are held (verified and on disk): a fixed-size bitmap. */
export class PieceSet {
  private bits: Uint8Array;
  private count = 0;

  constructor(readonly size: number) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }

  has(n: number): boolean {
    return n >= 0 && n < this.size && (this.bits[n >> 3]! & (1 << (n & 7))) !== 0;
  }

  add(n: number): boolean {
    if (n < 0 || n >= this.size || this.has(n)) return false;
    this.bits[n >> 3]! |= 1 << (n & 7);
    this.count++;
    return true;
  }

  delete(n: number): void {
    if (!this.has(n)) return;
    this.bits[n >> 3]! &= ~(1 << (n & 7));
    this.count--;
  }

  get held(): number {
    return this.count;
  }

  get complete(): boolean {
    return this.count === this.size;
  }

  /** True when every piece in [first, last] is held. */
  hasAll(first: number, last: number): boolean {
    for (let n = first; n <= last; n++) if (!this.has(n)) return false;
    return true;
  }

  toArray(): number[] {
    const out: number[] = [];
    for (let n = 0; n < this.size; n++) if (this.has(n)) out.push(n);
    return out;
  }
}
