import type { SlotIds } from './ids.js';
import { generateUser } from './names.js';

export interface UserRecord {
  id: string;
  userPrincipalName: string;
  accountEnabled: boolean;
  [property: string]: unknown;
}

export const UserState = { Active: 0, SoftDeleted: 1, HardDeleted: 2 } as const;
export type UserState = (typeof UserState)[keyof typeof UserState];

export interface BulkRange {
  first: number;
  count: number;
  seed: number;
  prefix?: string;
  /** Every Kth user of the range (ordinal % K === 0) is assigned to the app; 0 = none. */
  assignEvery: number;
  createdDateTime: string;
}

/**
 * Users live in numbered slots. State and log position are typed arrays; property bags exist only
 * for users created one by one or changed after a bulk create. Bulk users' properties are
 * generated on read from (seed, slot), so 1,000,000 users cost a few bytes each.
 */
export class UserStore {
  count = 0;
  private states = new Uint8Array(1024);
  private lasts = new Int32Array(1024).fill(-1);
  private bags = new Map<number, Record<string, unknown>>();
  private explicitIds = new Map<string, number>();
  readonly ranges: BulkRange[] = [];
  readonly deletedDateTime = new Map<number, string>();

  constructor(
    readonly ids: SlotIds,
    readonly domain: string,
  ) {}

  private ensure(extra: number): void {
    const need = this.count + extra;
    if (need <= this.states.length) return;
    let cap = this.states.length;
    while (cap < need) cap *= 2;
    const s = new Uint8Array(cap);
    s.set(this.states);
    const l = new Int32Array(cap).fill(-1);
    l.set(this.lasts);
    this.states = s;
    this.lasts = l;
  }

  addExplicit(bag: Record<string, unknown> & { id: string }): number {
    this.ensure(1);
    const i = this.count++;
    this.bags.set(i, bag);
    this.explicitIds.set(bag.id, i);
    return i;
  }

  addBulk(count: number, seed: number, assignEvery: number, prefix?: string): BulkRange {
    this.ensure(count);
    const range: BulkRange = { first: this.count, count, seed, assignEvery, createdDateTime: isoNow() };
    if (prefix !== undefined) range.prefix = prefix;
    this.ranges.push(range);
    this.count += count;
    return range;
  }

  rangeOf(i: number): BulkRange | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.ranges[mid]!;
      if (i < r.first) hi = mid - 1;
      else if (i >= r.first + r.count) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  indexOf(id: string): number | undefined {
    const key = id.toLowerCase();
    const explicit = this.explicitIds.get(key);
    if (explicit !== undefined) return explicit;
    const i = this.ids.indexOf(key);
    return i !== undefined && i < this.count && this.rangeOf(i) ? i : undefined;
  }

  /** GET /users/{userPrincipalName}: a linear scan, fine for single lookups (provision on demand). */
  indexOfUpn(upn: string): number | undefined {
    const wanted = upn.toLowerCase();
    for (const [i, bag] of this.bags) if (String(bag.userPrincipalName).toLowerCase() === wanted) return i;
    for (let i = 0; i < this.count; i++) {
      if (this.bags.has(i) || !this.rangeOf(i)) continue;
      if (String(this.props(i).userPrincipalName).toLowerCase() === wanted) return i;
    }
    return undefined;
  }

  idAt(i: number): string {
    return (this.bags.get(i)?.id as string | undefined) ?? this.ids.idFor(i);
  }

  /** Current properties (read-only use: bulk users get a fresh object each call). */
  props(i: number): Record<string, unknown> {
    const bag = this.bags.get(i);
    if (bag) return bag;
    const range = this.rangeOf(i);
    if (!range) throw new Error(`no user in slot ${i}`);
    return generateUser(this.ids.idFor(i), range.seed, i, this.domain, range.prefix);
  }

  /** A stored, writable bag: a bulk user becomes an ordinary one the first time it changes. */
  writable(i: number): Record<string, unknown> {
    let bag = this.bags.get(i);
    if (!bag) {
      bag = this.props(i);
      this.bags.set(i, bag);
    }
    return bag;
  }

  state(i: number): UserState {
    return this.states[i] as UserState;
  }
  setState(i: number, s: UserState): void {
    this.states[i] = s;
  }
  last(i: number): number {
    return this.lasts[i]!;
  }
  setLast(i: number, e: number): void {
    this.lasts[i] = e;
  }
  /** After a bulk create: the range's entries are consecutive from `firstEntry`. */
  setLastRange(first: number, count: number, firstEntry: number): void {
    for (let k = 0; k < count; k++) this.lasts[first + k] = firstEntry + k;
  }

  virtuallyAssigned(i: number): BulkRange | undefined {
    const r = this.rangeOf(i);
    return r && r.assignEvery > 0 && (i - r.first) % r.assignEvery === 0 ? r : undefined;
  }
}

export const isoNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
