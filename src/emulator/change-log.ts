/**
 * The change log behind delta tokens. A token is a position (a seq) in this log, never a snapshot,
 * so an outstanding token costs nothing and a round costs time proportional to the changes since it.
 * Entries live in growable typed arrays: a million entries are ~21 MB, not a million objects.
 */
export const Kind = { Update: 0, Create: 1, SoftDelete: 2, Restore: 3, HardDelete: 4, Members: 5 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export class ChangeLog {
  private seqs = new Float64Array(1024);
  private objs = new Int32Array(1024);
  private masks = new Int32Array(1024);
  private kinds = new Uint8Array(1024);
  private prevs = new Int32Array(1024);
  length = 0;

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.seqs.length) return;
    let cap = this.seqs.length;
    while (cap < need) cap *= 2;
    const grow = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.seqs = grow(this.seqs, (n) => new Float64Array(n));
    this.objs = grow(this.objs, (n) => new Int32Array(n));
    this.masks = grow(this.masks, (n) => new Int32Array(n));
    this.kinds = grow(this.kinds, (n) => new Uint8Array(n));
    this.prevs = grow(this.prevs, (n) => new Int32Array(n));
  }

  /** `prev` chains the entries of one object backwards, so per-object history needs no index. */
  append(seq: number, obj: number, kind: Kind, mask: number, prev: number): number {
    this.ensure(1);
    const i = this.length++;
    this.seqs[i] = seq;
    this.objs[i] = obj;
    this.kinds[i] = kind;
    this.masks[i] = mask;
    this.prevs[i] = prev;
    return i;
  }

  /** Creation of `count` consecutive new objects; returns the entry of the first. */
  appendCreates(seq: number, firstObj: number, count: number): number {
    this.ensure(count);
    const start = this.length;
    this.seqs.fill(seq, start, start + count);
    this.kinds.fill(Kind.Create, start, start + count);
    this.masks.fill(-1, start, start + count);
    this.prevs.fill(-1, start, start + count);
    for (let k = 0; k < count; k++) this.objs[start + k] = firstObj + k;
    this.length += count;
    return start;
  }

  seq(i: number): number {
    return this.seqs[i]!;
  }
  obj(i: number): number {
    return this.objs[i]!;
  }
  kind(i: number): Kind {
    return this.kinds[i] as Kind;
  }
  mask(i: number): number {
    return this.masks[i]!;
  }
  prev(i: number): number {
    return this.prevs[i]!;
  }

  /** Index of the first entry with seq > `seq` (seqs never decrease). */
  firstAfter(seq: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid]! <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether the entry touches the tracked properties, the tracked membership or the lifecycle. */
  relevant(i: number, tracked: number, membersTracked = false): boolean {
    const k = this.kinds[i];
    if (k === Kind.Update) return (this.masks[i]! & tracked) !== 0;
    return k === Kind.Members ? membersTracked : true;
  }

  /**
   * The newest relevant entry of the object whose chain starts at `last`, ignoring entries after
   * `upTo` (changes made while a round pages belong to the next round). -1 if none.
   */
  lastRelevant(last: number, upTo: number, tracked: number, membersTracked = false): number {
    for (let e = last; e >= 0; e = this.prevs[e]!) {
      if (this.seqs[e]! <= upTo && this.relevant(e, tracked, membersTracked)) return e;
    }
    return -1;
  }

  /** Union of property masks and whether a (re)creation happened, over entries newer than `since`. */
  changesSince(last: number, since: number): { mask: number; recreated: boolean } {
    let mask = 0;
    let recreated = false;
    for (let e = last; e >= 0 && this.seqs[e]! > since; e = this.prevs[e]!) {
      const k = this.kinds[e];
      if (k === Kind.Create || k === Kind.Restore) recreated = true;
      else if (k === Kind.Update) mask |= this.masks[e]!;
    }
    return { mask, recreated };
  }
}

/**
 * Property name -> bit. Properties are open-ended (any string a test sets), so after 30 names the
 * rest share one overflow bit; that only makes tracking conservative (an extra appearance).
 */
export class PropBits {
  private bits = new Map<string, number>();
  static readonly OVERFLOW = 1 << 30;

  bit(name: string): number {
    let b = this.bits.get(name);
    if (b === undefined) {
      b = this.bits.size < 30 ? 1 << this.bits.size : PropBits.OVERFLOW;
      this.bits.set(name, b);
    }
    return b;
  }

  mask(names: Iterable<string>): number {
    let m = 0;
    for (const n of names) m |= this.bit(n);
    return m;
  }
}
