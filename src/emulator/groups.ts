export type MemberType = 'user' | 'group';

export interface MembershipChange {
  seq: number;
  id: string;
  type: MemberType;
}

export interface GroupSlot {
  id: string;
  props: Record<string, unknown>;
  deleted: boolean;
  /** Direct members in insertion order (delta slices large groups by position). */
  members: Map<string, MemberType>;
  /** Every change of effective membership, for incremental members@delta. */
  mlog: MembershipChange[];
  last: number;
}

export interface GroupRecord {
  id: string;
  displayName: string;
  members: string[];
  [property: string]: unknown;
}

export class GroupStore {
  readonly slots: GroupSlot[] = [];
  private byId = new Map<string, number>();

  add(id: string, props: Record<string, unknown>): number {
    const i = this.slots.length;
    this.slots.push({ id, props, deleted: false, members: new Map(), mlog: [], last: -1 });
    this.byId.set(id, i);
    return i;
  }

  indexOf(id: string): number | undefined {
    return this.byId.get(id.toLowerCase());
  }

  get(id: string): GroupSlot | undefined {
    const i = this.indexOf(id);
    return i === undefined ? undefined : this.slots[i];
  }
}
