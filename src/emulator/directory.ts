import { randomUUID } from 'node:crypto';
import {
  Assignments,
  DEFAULT_APP_ROLE,
  assignmentId,
  assignmentKey,
  type AssignmentRecord,
  type PrincipalType,
} from './assignments.js';
import { ChangeLog, Kind, PropBits } from './change-log.js';
import { badRequest, notFound } from './errors.js';
import { GroupStore, type GroupRecord, type GroupSlot, type MemberType } from './groups.js';
import { SlotIds } from './ids.js';
import { ManagerLinks } from './managers.js';
import { UserState, UserStore, isoNow, type UserRecord } from './users.js';

const same = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);
const isStoredValue = (v: unknown) =>
  v === null || ['string', 'boolean', 'number'].includes(typeof v) || Array.isArray(v);

/**
 * The directory: users, groups, memberships and app-role assignments, and the change logs that
 * every mutation appends to. All mutations go through here so nothing can change without a log
 * entry (a change delta would never report is a bug the emulator must not have).
 */
export class Directory {
  seq = 0;
  readonly props = new PropBits();
  readonly userLog = new ChangeLog();
  readonly groupLog = new ChangeLog();
  readonly users: UserStore;
  readonly groups = new GroupStore();
  readonly assignments = new Assignments();
  readonly managers = new ManagerLinks();
  /** member id -> indices of groups it is a direct member of. */
  private memberOf = new Map<string, Set<number>>();

  constructor(
    readonly domain: string,
    readonly seed: number,
    idPrefix?: string,
  ) {
    this.users = new UserStore(new SlotIds(idPrefix), domain);
  }

  // ---- users ----

  private userIndex(id: string, allowDeleted = false): number {
    const i = this.users.indexOf(id);
    if (i === undefined) throw notFound(id);
    const s = this.users.state(i);
    if (s === UserState.HardDeleted || (!allowDeleted && s === UserState.SoftDeleted)) throw notFound(id);
    return i;
  }

  private logUser(i: number, kind: Kind, mask: number): void {
    this.users.setLast(i, this.userLog.append(++this.seq, i, kind, mask, this.users.last(i)));
  }

  createUser(u: Partial<UserRecord> & { userPrincipalName: string }): UserRecord {
    if (typeof u.userPrincipalName !== 'string' || !u.userPrincipalName)
      throw badRequest('userPrincipalName is required');
    const id = (typeof u.id === 'string' ? u.id : randomUUID()).toLowerCase();
    if (this.users.indexOf(id) !== undefined || this.groups.indexOf(id) !== undefined)
      throw badRequest(`Another object with the same value for property id already exists.`);
    const bag: Record<string, unknown> & { id: string } = { id, accountEnabled: true };
    for (const [k, v] of Object.entries(u)) if (k !== 'id' && v !== undefined && isStoredValue(v)) bag[k] = v;
    const i = this.users.addExplicit(bag);
    this.logUser(i, Kind.Create, -1);
    return this.userRecord(i);
  }

  updateUser(id: string, patch: Record<string, unknown>): UserRecord {
    const i = this.userIndex(id, true);
    let mask = 0;
    const bag = this.users.writable(i);
    for (const [k, v] of Object.entries(patch)) {
      if (k === 'id' || v === undefined || !isStoredValue(v) || same(bag[k], v)) continue;
      bag[k] = v;
      mask |= this.props.bit(k);
    }
    if (mask) this.logUser(i, Kind.Update, mask);
    return this.userRecord(i);
  }

  softDeleteUser(id: string): void {
    const i = this.userIndex(id);
    this.users.setState(i, UserState.SoftDeleted);
    this.users.deletedDateTime.set(i, isoNow());
    this.logUser(i, Kind.SoftDelete, 0);
    // A deleted member leaves its groups as far as delta is concerned; restore brings it back.
    this.touchMemberships(this.users.idAt(i), 'user');
    this.touchReports(this.users.idAt(i));
  }

  restoreUser(id: string): UserRecord {
    const i = this.users.indexOf(id);
    if (i === undefined || this.users.state(i) !== UserState.SoftDeleted) throw notFound(id);
    this.users.setState(i, UserState.Active);
    this.users.deletedDateTime.delete(i);
    this.logUser(i, Kind.Restore, -1);
    this.touchMemberships(this.users.idAt(i), 'user');
    this.touchReports(this.users.idAt(i));
    return this.userRecord(i);
  }

  hardDeleteUser(id: string): void {
    const i = this.userIndex(id, true);
    const userId = this.users.idAt(i);
    const wasActive = this.users.state(i) === UserState.Active;
    this.users.setState(i, UserState.HardDeleted);
    this.users.deletedDateTime.delete(i);
    this.logUser(i, Kind.HardDelete, 0);
    this.dropMemberships(userId, wasActive);
    this.managers.link(i, null);
    // A hard-deleted manager's links go with it; a soft-deleted one had already stopped counting.
    const reports = [...(this.managers.reportsOf.get(userId) ?? [])];
    for (const r of reports) this.managers.link(r, null);
    if (wasActive) for (const r of reports) this.managerChanged(r);
    this.managers.reportsOf.delete(userId);
    this.assignments.removePrincipal(userId);
    if (this.users.virtuallyAssigned(i)) this.assignments.virtualOff.add(i);
  }

  getUser(id: string): UserRecord | undefined {
    const i = this.users.indexOf(id);
    if (i === undefined || this.users.state(i) === UserState.HardDeleted) return undefined;
    return this.userRecord(i);
  }

  userRecord(i: number): UserRecord {
    return { ...this.users.props(i) } as UserRecord;
  }

  isUserActive(id: string): boolean {
    const i = this.users.indexOf(id);
    return i !== undefined && this.users.state(i) === UserState.Active;
  }

  bulkCreateUsers(n: number, opts: { assignEvery?: number; prefix?: string; seed?: number } = {}) {
    if (!Number.isInteger(n) || n < 1) throw badRequest('users must be a positive integer');
    const range = this.users.addBulk(n, opts.seed ?? this.seed, opts.assignEvery ?? 0, opts.prefix);
    const entry = this.userLog.appendCreates(++this.seq, range.first, n);
    this.users.setLastRange(range.first, n, entry);
    return { first: range.first, count: n };
  }

  /** The id of the user in slot `index` (what bulkCreateUsers' `first` counts). */
  userIdAt(index: number): string {
    if (index < 0 || index >= this.users.count) throw notFound(String(index));
    return this.users.idAt(index);
  }

  // ---- managers ----

  /** The user's manager as Graph shows it: the linked user while that user is active, else null. */
  managerOf(i: number): string | null {
    const m = this.managers.linkOf.get(i);
    return m !== undefined && this.isUserActive(m) ? m : null;
  }

  getManager(userId: string): UserRecord | undefined {
    const m = this.managerOf(this.userIndex(userId));
    return m === null ? undefined : this.getUser(m);
  }

  /** Sets (or with null removes) a user's manager; a real change is a `manager` change for delta. */
  setManager(userId: string, managerId: string | null): void {
    const i = this.userIndex(userId);
    let target: string | null = null;
    if (managerId !== null) {
      target = this.users.idAt(this.userIndex(managerId));
      if (target === this.users.idAt(i)) throw badRequest('A user cannot be their own manager.');
    }
    if ((this.managers.linkOf.get(i) ?? null) === target) return;
    this.managers.link(i, target);
    this.managerChanged(i);
  }

  /**
   * Logs a change of the effective manager. A report that is itself deleted gets no log entry (it
   * shows as removed anyway) but its history is kept right for when it is restored.
   */
  private managerChanged(i: number): void {
    if (this.users.state(i) === UserState.Active) this.logUser(i, Kind.Update, this.props.bit('manager'));
    this.managers.record(i, this.seq, this.managerOf(i));
  }

  /** A manager who is deleted or restored changes the effective manager of each report. */
  private touchReports(managerId: string): void {
    for (const r of this.managers.reportsOf.get(managerId) ?? []) this.managerChanged(r);
  }

  // ---- groups ----

  private groupSlot(id: string): [number, GroupSlot] {
    const i = this.groups.indexOf(id);
    const g = i === undefined ? undefined : this.groups.slots[i];
    if (i === undefined || !g || g.deleted) throw notFound(id);
    return [i, g];
  }

  createGroup(g: {
    displayName: string;
    id?: string;
    members?: string[];
    [k: string]: unknown;
  }): GroupRecord {
    if (typeof g.displayName !== 'string') throw badRequest('displayName is required');
    const id = (g.id ?? randomUUID()).toLowerCase();
    if (this.groups.indexOf(id) !== undefined || this.users.indexOf(id) !== undefined)
      throw badRequest('Another object with the same value for property id already exists.');
    const props: Record<string, unknown> = {
      displayName: g.displayName,
      mailEnabled: false,
      securityEnabled: true,
      groupTypes: [],
      mailNickname: g.displayName.replace(/[^A-Za-z0-9]/g, '').slice(0, 64) || 'group',
    };
    for (const [k, v] of Object.entries(g))
      if (!['id', 'members'].includes(k) && isStoredValue(v)) props[k] = v;
    const gi = this.groups.add(id, props);
    const slot = this.groups.slots[gi]!;
    slot.last = this.groupLog.append(++this.seq, gi, Kind.Create, -1, -1);
    for (const m of g.members ?? []) this.addMember(id, m);
    return this.groupRecord(slot);
  }

  updateGroup(id: string, patch: Record<string, unknown>): GroupRecord {
    const [gi, g] = this.groupSlot(id);
    let mask = 0;
    for (const [k, v] of Object.entries(patch)) {
      if (k === 'id' || k === 'members' || v === undefined || !isStoredValue(v) || same(g.props[k], v))
        continue;
      g.props[k] = v;
      mask |= this.props.bit(k);
    }
    if (mask) g.last = this.groupLog.append(++this.seq, gi, Kind.Update, mask, g.last);
    return this.groupRecord(g);
  }

  /** Security groups are not restorable, so a group delete is permanent (`@removed: deleted`). */
  deleteGroup(id: string): void {
    const [gi, g] = this.groupSlot(id);
    g.deleted = true;
    g.last = this.groupLog.append(++this.seq, gi, Kind.HardDelete, 0, g.last);
    for (const m of g.members.keys()) this.memberOf.get(m)?.delete(gi);
    g.members.clear();
    this.dropMemberships(g.id, true);
    this.assignments.removePrincipal(g.id);
  }

  getGroup(id: string): GroupRecord | undefined {
    const g = this.groups.get(id);
    return g && !g.deleted ? this.groupRecord(g) : undefined;
  }

  private groupRecord(g: GroupSlot): GroupRecord {
    return { id: g.id, ...g.props, members: [...g.members.keys()] } as GroupRecord;
  }

  private memberType(memberId: string): MemberType {
    if (this.users.indexOf(memberId) !== undefined && this.getUser(memberId)) return 'user';
    const g = this.groups.get(memberId);
    if (g && !g.deleted) return 'group';
    throw notFound(memberId);
  }

  addMember(groupId: string, memberId: string): void {
    const [gi, g] = this.groupSlot(groupId);
    const id = memberId.toLowerCase();
    const type = this.memberType(id);
    if (id === g.id) throw badRequest('A group cannot be a member of itself.');
    if (g.members.has(id))
      throw badRequest(
        "One or more added object references already exist for the following modified properties: 'members'.",
      );
    g.members.set(id, type);
    let set = this.memberOf.get(id);
    if (!set) this.memberOf.set(id, (set = new Set()));
    set.add(gi);
    if (this.isEffective(id, type)) this.recordMembership(gi, id, type, ++this.seq);
  }

  removeMember(groupId: string, memberId: string): void {
    const [gi, g] = this.groupSlot(groupId);
    const id = memberId.toLowerCase();
    const type = g.members.get(id);
    if (!type) throw notFound(memberId);
    g.members.delete(id);
    this.memberOf.get(id)?.delete(gi);
    this.recordMembership(gi, id, type, ++this.seq);
  }

  /** Whether a stored member currently counts (a soft-deleted user does not). */
  isEffective(id: string, type: MemberType): boolean {
    if (type === 'user') return this.isUserActive(id);
    const g = this.groups.get(id);
    return !!g && !g.deleted;
  }

  /** The live groups `memberId` is a direct member of (none for a user that is not active). */
  groupsOf(memberId: string): GroupSlot[] {
    const id = memberId.toLowerCase();
    const type: MemberType = this.groups.get(id) ? 'group' : 'user';
    if (!this.isEffective(id, type)) return [];
    return [...(this.memberOf.get(id) ?? [])].map((gi) => this.groups.slots[gi]!).filter((g) => !g.deleted);
  }

  /** Every group `memberId` belongs to, directly or through nested groups. */
  transitiveGroupsOf(memberId: string): GroupSlot[] {
    const seen = new Map<string, GroupSlot>();
    const queue = this.groupsOf(memberId);
    for (let g = queue.shift(); g; g = queue.shift()) {
      if (seen.has(g.id)) continue;
      seen.set(g.id, g);
      queue.push(...this.groupsOf(g.id));
    }
    return [...seen.values()];
  }

  effectiveMembers(g: GroupSlot): { id: string; type: MemberType }[] {
    const out: { id: string; type: MemberType }[] = [];
    for (const [id, type] of g.members) if (this.isEffective(id, type)) out.push({ id, type });
    return out;
  }

  private recordMembership(gi: number, id: string, type: MemberType, seq: number): void {
    const g = this.groups.slots[gi]!;
    g.mlog.push({ seq, id, type });
    g.last = this.groupLog.append(seq, gi, Kind.Members, 0, g.last);
  }

  private touchMemberships(memberId: string, type: MemberType): void {
    const set = this.memberOf.get(memberId);
    if (!set) return;
    for (const gi of set)
      if (!this.groups.slots[gi]!.deleted) this.recordMembership(gi, memberId, type, this.seq);
  }

  private dropMemberships(memberId: string, record: boolean): void {
    const set = this.memberOf.get(memberId);
    if (!set) return;
    for (const gi of set) {
      const g = this.groups.slots[gi]!;
      const type = g.members.get(memberId);
      g.members.delete(memberId);
      if (record && type && !g.deleted) this.recordMembership(gi, memberId, type, this.seq);
    }
    this.memberOf.delete(memberId);
  }

  // ---- assignments ----

  assign(principalId: string, principalType: PrincipalType, role = DEFAULT_APP_ROLE): AssignmentRecord {
    const id = principalId.toLowerCase();
    const appRoleId = role.toLowerCase();
    if (principalType === 'User') {
      const i = this.userIndex(id);
      if (
        this.users.virtuallyAssigned(i) &&
        !this.assignments.virtualOff.has(i) &&
        appRoleId === DEFAULT_APP_ROLE
      )
        return this.virtualAssignment(i);
    } else if (principalType === 'Group') this.groupSlot(id);
    else if (principalType !== 'ServicePrincipal')
      throw badRequest(`Invalid principalType '${String(principalType)}'.`);
    // Assigning a role the principal already has keeps the existing assignment (see README).
    const existing = this.assignments.explicit.get(assignmentKey(id, appRoleId));
    if (existing) return existing;
    const rec: AssignmentRecord = {
      id: assignmentId(id, appRoleId),
      appRoleId,
      principalId: id,
      principalType,
      createdDateTime: isoNow(),
    };
    this.assignments.explicit.set(assignmentKey(id, appRoleId), rec);
    return rec;
  }

  /** Removes the principal's assignment of `appRoleId`, or all its assignments when none is given. */
  unassign(principalId: string, appRoleId?: string): void {
    const id = principalId.toLowerCase();
    const had =
      appRoleId === undefined
        ? this.assignments.removePrincipal(id)
        : this.assignments.explicit.delete(assignmentKey(id, appRoleId.toLowerCase()));
    const i = this.users.indexOf(id);
    const virtual =
      i !== undefined &&
      this.users.virtuallyAssigned(i) &&
      !this.assignments.virtualOff.has(i) &&
      (appRoleId === undefined || appRoleId.toLowerCase() === DEFAULT_APP_ROLE);
    if (virtual) this.assignments.virtualOff.add(i);
    if (!had && !virtual) throw notFound(principalId);
  }

  /** An implicit assignment of a bulk range; its id (a hash) is computed only when read. */
  virtualAssignment(i: number): AssignmentRecord {
    const r = this.users.rangeOf(i)!;
    const principalId = this.users.idAt(i);
    return {
      get id() {
        return assignmentId(principalId, DEFAULT_APP_ROLE);
      },
      appRoleId: DEFAULT_APP_ROLE,
      principalId,
      principalType: 'User',
      createdDateTime: r.createdDateTime,
    };
  }

  /** Whether an assignment's principal exists and is not deleted (only those are listed). */
  isActivePrincipal(a: AssignmentRecord): boolean {
    if (a.principalType === 'User') {
      const i = this.users.indexOf(a.principalId);
      return i !== undefined && this.users.state(i) === UserState.Active;
    }
    if (a.principalType === 'Group') {
      const g = this.groups.get(a.principalId);
      return g !== undefined && !g.deleted;
    }
    return true;
  }

  /** Display name of an assignment's principal; undefined when the principal is not active. */
  principalName(a: AssignmentRecord): string | undefined {
    if (!this.isActivePrincipal(a)) return undefined;
    if (a.principalType === 'User')
      return String(this.users.props(this.users.indexOf(a.principalId)!).displayName ?? '');
    if (a.principalType === 'Group') return String(this.groups.get(a.principalId)!.props.displayName ?? '');
    return a.principalDisplayName ?? 'Service principal';
  }
}
