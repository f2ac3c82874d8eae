import type { AuditDraft } from '../plan/audit-entry.js';
import type { PlannedAction, StoreLookup, StoreUser } from '../plan/types.js';
import type { AttributeValue } from '../source/types.js';
import type { AuditEntry, AuditQuery } from './audit.js';
import type { CycleKind, CycleRecord, CycleSet, CycleStatus, FailureClass } from './cycles.js';
import type { LeaseHolder } from './lock.js';
import type { FailingUser, RetrySpacing } from './pending.js';
import type { Membership, ScopeVia } from './scope.js';
import type { MirroredUser } from './source-users.js';
import type { StagedChange, StagedKind } from './staged.js';
import type { StateKey } from './state.js';
import type { ProgressRecord } from './progress.js';
import type { LockWaits } from './write-wait.js';

/**
 * The user store as the engine sees it: named, asynchronous operations, batch-oriented where users
 * are concerned (the facts of a batch in one call, its writes in one call). Nothing outside
 * src/store/ names a table, a column, a transaction or a pragma. SQLite (store/index.ts) implements
 * it with synchronous better-sqlite3 calls inside.
 */
export interface UserStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Users per applyBatch call in a round. SQLite writes synchronously, so small chunks let I/O run
   * in between; PostgreSQL writes asynchronously and pays per round trip, so it takes larger ones.
   */
  readonly usersPerBatch: number;

  // ── The users pipeline ──────────────────────────────────────────────────────────────────────
  /** Everything stored about these Entra users, in one call. */
  knownUsers(entraIds: readonly string[], options: { appRoles: boolean }): Promise<Map<string, KnownUser>>;
  /**
   * The matching look-ups of a batch. The lookup answers every key asked for; it may answer others
   * too, and reports those it could not in `missing` (the caller asks again for them).
   */
  linkCandidates(keys: readonly LookupKey[]): Promise<PrefetchedLookup>;
  /**
   * A batch, in one call and one transaction (or inside the open one): mirror writes, then each
   * planned action with its audit row and pending-queue settlement, then the `after` writes. A row
   * the store rejects fails that user (its action comes back as an error), never the batch.
   */
  applyBatch(batch: WriteBatch): Promise<AppliedAction[]>;

  readonly users: {
    get(id: string): Promise<StoreUser | null>;
    findByUserName(userName: string): Promise<StoreUser | null>;
    counts(): Promise<{ total: number; active: number; linked: number }>;
    /** Every row, in userName order, read as it is consumed (an export of the whole store). */
    inUserNameOrder(): AsyncGenerator<StoreUser>;
  };
  readonly scope: {
    /** One groups/delta page: membership changes (their users become pending) and deleted groups. */
    applyGroupPage(writes: readonly GroupWrite[], generation: number): Promise<void>;
    /** After a complete full groups round: memberships it did not list are gone. */
    dropUnseenMemberships(generation: number): Promise<number>;
    /** The assignment listing of this cycle, gathered page by page; nothing is written until commit. */
    beginListing(): Promise<void>;
    addToListing(items: readonly ListedAssignment[]): Promise<void>;
    /** Swaps the listing in, with the app's role definitions, and recomputes the groups in scope. */
    commitListing(
      appRoles: AppRole[] | null,
      expandNestedGroups: boolean,
    ): Promise<{
      added: number;
      removed: number;
      unchanged: boolean;
      groupsEntered: number;
      groupsLeft: number;
    }>;
    isAssigned(principalId: string, principalType: 'User' | 'Group'): Promise<boolean>;
    /** Every user in scope or linked, in id order. */
    relevantUserIds(): Promise<string[]>;
    /** How many users relevantUserIds() lists, counted up to `limit` + 1 at most. */
    relevantUserCount(limit: number): Promise<number>;
    /** Pending users in scope that were never mirrored: read them before planning. */
    unmirroredInScope(): Promise<string[]>;
    /** Linked rows whose Entra user the full round of `generation` did not list. */
    unseenLinked(generation: number, afterId: string, limit: number): Promise<string[]>;
    /** Mirror rows the full round did not list and no row links to. */
    forgetUnseenUnlinked(generation: number): Promise<number>;
  };
  /** Groups: the mirror of Entra groups and the application's `groups` / `group_members` tables. */
  readonly groups: {
    /**
     * Pending groups with plan = 1, in entra id order after `afterId`; a failing group only once its
     * retry time has passed (new facts about it, or `retryFailed`, clear that time).
     */
    duePlan(afterId: string, limit: number): Promise<KnownGroup[]>;
    /** The facts of these groups (provision on demand, staged replans). */
    known(entraIds: readonly string[]): Promise<Map<string, KnownGroup>>;
    /** Unlinked local groups (external_id NULL) by display name, case-insensitive. */
    unlinkedByDisplayName(names: readonly string[]): Promise<Map<string, StoreGroup[]>>;
    /**
     * Applies each action with its audit row (create/update/link set in_scope and members = 1; delete
     * removes the row, its memberships by cascade, the plan mark; keep records in_scope and clears plan).
     * A row the store rejects fails that group (outcome 'failed', error audit row), never the batch.
     * A failed or 'error' group keeps its plan mark and records the failure (failures + 1, the error):
     * it is due again after `spacing` doubled per failure in a row (baseSeconds × 2^(failures before),
     * at most maxSeconds), like a failing user. An applied action clears that state. The verdict is
     * kept on the group's mirror row (source_groups): a group Graph never listed records none. Staged
     * group deletes are the caller's (staged.restage / staged.remove), never touched here.
     */
    apply(
      cycleId: string,
      writes: readonly GroupActionWrite[],
      spacing: RetrySpacing,
    ): Promise<AppliedGroupAction[]>;
    /**
     * Recomputes memberships of groups with members = 1 (plus, when expandNested, every in-scope linked
     * ancestor of such a group), at most `limit` groups per call, writing only the differences; each
     * add/remove gets an audit row ('add-member' / 'remove-member', reason_code 'member-added' /
     * 'member-removed', user and group named) unless the group was created in this cycle (then its
     * create row's `members` count says it; pass the cycle id). Returns what it did; 0 groups = done.
     */
    settleMemberships(
      cycleId: string,
      options: { expandNested: boolean; limit: number },
    ): Promise<{ groups: number; added: number; removed: number }>;
    /** Every source group plan = 1 and members = 1 (a failing one due at once). */
    markAllForPlan(): Promise<void>;
    /** Groups whose change failed and that wait for a retry. */
    failingCount(): Promise<number>;
    /** Every failing group, or the one named by its Entra id or display name: due in the next cycle. */
    retryFailed(group?: string): Promise<number>;
    counts(): Promise<{ total: number; linked: number; memberships: number }>;
    /** By local id, Entra id or display name (case-insensitive; may be several). */
    find(key: string): Promise<StoreGroup[]>;
    /** Entra ids of the groups the mirror holds (not deleted) under this display name, case-insensitive. */
    mirroredByDisplayName(displayName: string): Promise<string[]>;
    /** Local user ids of a group's members, in user id order. */
    memberIds(groupId: string): Promise<string[]>;
    /** Every group row in display-name order, read as consumed (groups export). */
    inDisplayNameOrder(): AsyncGenerator<StoreGroup>;
  };
  readonly pending: {
    dueAfter(afterId: string, limit: number, cycleId: string): Promise<string[]>;
    dueUnusable(cycleId: string): Promise<string[]>;
    failing(limit?: number): Promise<FailingUser[]>;
    failingCount(): Promise<number>;
    /** Every failing user, or the one named by its Entra object id, local id or userName. */
    retryFailed(user?: string): Promise<number>;
    count(): Promise<number>;
  };
  readonly staged: {
    after(entraId: string, limit: number): Promise<StagedChange[]>;
    list(limit?: number): Promise<StagedChange[]>;
    counts(): Promise<{ total: number; held: number; rejected: number }>;
    restage(
      changes: readonly {
        entraId: string;
        cycleId: string;
        kind: StagedKind;
        userName: string | null;
      }[],
    ): Promise<void>;
    remove(entraIds: readonly string[]): Promise<void>;
    holdAll(): Promise<void>;
    rejectAll(): Promise<number>;
    clear(): Promise<void>;
  };
  readonly state: {
    get(key: StateKey): Promise<string | null>;
    set(values: Partial<Record<StateKey, string>>): Promise<void>;
    nextGeneration(): Promise<number>;
    forgetDeltaState(): Promise<void>;
    /** Whether a malformed element from Graph is reported for the first time (and records it). */
    firstReport(elementKey: string): Promise<boolean>;
  };
  readonly cycles: {
    start(id: string, kind: CycleKind, dryRun: boolean): Promise<void>;
    finish(
      id: string,
      status: CycleStatus,
      counts: Record<string, number>,
      graphRequests: number,
      error?: string,
      failureClass?: FailureClass,
    ): Promise<void>;
    get(id: string): Promise<CycleRecord | null>;
    /** Newest first: the job's cycles (`job`: not on-demand runs), on-demand runs, or all (default). */
    recent(limit: number, which?: CycleSet): Promise<CycleRecord[]>;
    /** The job's last successful cycle (on-demand runs and dry runs aside). */
    lastSucceeded(): Promise<CycleRecord | null>;
    /** Cycles left `running` by a process that died: marked aborted. */
    markAbandoned(): Promise<number>;
  };
  readonly audit: {
    append(entries: readonly AuditDraft[]): Promise<void>;
    query(q: AuditQuery): Promise<AuditEntry[]>;
  };
  /**
   * The running cycle's progress, for other processes. Outside the cycle's transactions (visible at
   * once) and never waiting for the store's lock; a lease holder's record only.
   */
  readonly progress: {
    publish(record: ProgressRecord): Promise<void>;
    read(): Promise<ProgressRecord | null>;
    clear(cycleId: string): Promise<void>;
  };

  // ── Transactions, leases, lifetime ──────────────────────────────────────────────────────────
  /** Runs `fn` in one write transaction (inside the open one, if any), waiting for the store's lock without blocking. */
  write<T>(fn: () => Promise<T>, operation: string): Promise<T>;
  /** A write transaction its holder keeps open across awaits and ends itself (a users batch). */
  writeSpan(operation: string): Promise<WriteSpan>;
  /** Whether a write span or a dry run is open (writes then join it). */
  readonly inTransaction: boolean;
  /** Everything `fn` writes is rolled back at the end: a dry run. */
  dryRun<T>(fn: () => Promise<T>): Promise<T>;
  /** Rolls back a write a cut-short cycle left open. */
  abandonOpenWrite(): Promise<void>;
  /** The cross-process cycle lease for `owner`. */
  cycleLease(owner: string, ttlMs: number): CycleLease;
  /** Who holds the cycle lease now; null when no one does or it expired. */
  leaseHolder(now?: number): Promise<LeaseHolder | null>;
  /** A local queue of pages that spills to disk (pages read ahead, an assignment listing): not shared. */
  pageStash<T>(name: string): PageStash<T>;
  /** Waits for another connection's lock: figures, listener, abort. */
  readonly lockWaits: LockWaits;
  /**
   * Shutdown of a cycle cut short: unless another process holds the lease, rolls back its open
   * write, records it aborted and releases `owner`'s lease; then closes the store, with no chance for
   * the cycle to write in between.
   */
  closeInterrupted(owner: string): Promise<void>;
  close(): Promise<void>;
}

export interface PageStash<T> {
  readonly size: number;
  clear(): void;
  push(page: T): void;
  shift(): T | undefined;
}

export interface WriteSpan {
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

export interface CycleLease {
  readonly owner: string;
  /** Set when the lease passed to another owner during the cycle: it must not go on writing. */
  readonly lost: boolean;
  acquire(onWait: (holder: LeaseHolder) => void, pollMs?: number, timeoutMs?: number): Promise<void>;
  tryAcquire(): Promise<LeaseHolder | null>;
  release(): Promise<void>;
  /** Who holds this lease now, expired or not. */
  holder(): Promise<LeaseHolder | null>;
}

/** What the store holds about one Entra user. */
export interface KnownUser {
  entraId: string;
  /** The mirror of Graph; null when never mirrored (or forgotten). */
  source: MirroredUser | null;
  scope: ScopeVia;
  /** The store row linked to this user. */
  linked: StoreUser | null;
  appRoles?: AppRole[];
  /** The group the user last left while it gave scope, when nothing else gives it scope since. */
  leftGroup?: string;
  /** The manager the mirror names, and the local id of the row linked to it (null: none in the store). */
  manager?: { entraId: string; rowId: string | null };
  /**
   * Present when the user's Graph data was unusable when last read (its mirror is stale): the cycle
   * that last failed it, or null.
   */
  unusableSince?: string | null;
}

export interface AppRole {
  appRoleId: string;
  value: string | null;
  displayName: string | null;
}

/** A matching question: unlinked rows whose `target` equals `value`, or (target userName) who holds the name. */
export interface LookupKey {
  target: string;
  value: string;
}

export interface PrefetchedLookup extends StoreLookup {
  /** Keys asked for that were not fetched; empty when every answer was known. */
  readonly missing: readonly LookupKey[];
}

/** A write to the mirror of one user, in the order given. */
export type MirrorWrite =
  | { op: 'upsert'; entraId: string; attributes: Record<string, AttributeValue>; generation: number }
  | { op: 'softDelete'; entraId: string; generation: number }
  | { op: 'hardDelete'; entraId: string }
  | { op: 'keepUnusable'; entraId: string; generation: number; disabled: boolean }
  | { op: 'usableAgain'; entraId: string }
  | { op: 'fail'; entraId: string; error: string };

export interface ActionWrite {
  action: PlannedAction;
  /** Disables and deletes are staged for the deletion threshold instead of applied. */
  stage: boolean;
  /** A hard-deleted user leaves the mirror once its delete was applied or skipped. */
  forgetWhenApplied: boolean;
}

export interface WriteBatch {
  cycleId: string;
  /** How a failed user's retries are spaced (escrow). */
  retry: RetrySpacing;
  mirror?: readonly MirrorWrite[];
  actions?: readonly ActionWrite[];
  /** Audit rows that are not about an action (data from Graph that could not be used). */
  audit?: readonly AuditDraft[];
  after?: readonly MirrorWrite[];
}

export type Outcome = 'applied' | 'staged' | 'failed';

export interface AppliedAction {
  /** The action as applied: an error when the store rejected it. */
  action: PlannedAction;
  outcome: Outcome;
  userId: string | null;
}

export interface ListedAssignment {
  principalId: string;
  principalType: string;
  appRoleId: string;
}

/** One change of a groups/delta page, applied in order; a user whose membership changed becomes pending. */
export type GroupWrite =
  | { op: 'add'; membership: Membership }
  | { op: 'remove'; groupId: string; memberId: string; memberType: string }
  /** A deleted group: its user members become pending (they may have lost scope). */
  | { op: 'removeGroup'; groupId: string }
  /** A group's own properties as groups/delta lists them: the mirror, planned again when changed. */
  | {
      op: 'groupAttributes';
      groupId: string;
      displayName: string | null;
      attributes: Record<string, AttributeValue>;
    };

/** A row of the application's `groups` table. */
export interface StoreGroup {
  id: string;
  externalId: string | null;
  displayName: string;
  /** The SCIM Group resource as last written (schemas, displayName, externalId, … no members). */
  resource: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** Everything the group planner needs about one Entra group. */
export interface KnownGroup {
  entraId: string;
  /** The mirror; null when Graph never listed it (or forgot it). */
  source: {
    displayName: string | null;
    attributes: Record<string, AttributeValue>;
    removed: boolean;
  } | null;
  /** Assigned to the application (scope `assigned`); scope `all` decides in sync/ (filter). */
  assigned: boolean;
  linked: StoreGroup | null;
}

export type GroupActionWrite =
  | {
      kind: 'create';
      entraId: string;
      resource: Record<string, unknown>;
      displayName: string;
      inScope: true;
      audit: AuditDraft;
    }
  | {
      /** A rename or a changed attribute (update), or an unlinked local group taken over (link). */
      kind: 'update' | 'link';
      entraId: string;
      groupId: string;
      resource: Record<string, unknown>;
      displayName: string;
      inScope: true;
      audit: AuditDraft;
    }
  | { kind: 'delete'; entraId: string; groupId: string; audit: AuditDraft }
  /** No row change: records the verdict (in or out of scope) and clears plan; audit optional. */
  | { kind: 'keep'; entraId: string; inScope: boolean; audit: AuditDraft | null }
  | { kind: 'error'; entraId: string; audit: AuditDraft };

export interface AppliedGroupAction {
  entraId: string;
  outcome: 'applied' | 'failed';
  groupId: string | null;
  error?: string;
}
