import { applyBatchSqlite } from './apply-batch.js';
export { rowsCameOrWent } from './apply-batch.js';
import { AssignmentListing } from './assignment-listing.js';
import { AuditLog } from './audit.js';
import { CycleLog } from './cycles.js';
import { fitPageCache, openStore, type Db, type OpenOptions } from './db.js';
import type { PageStash, PrefetchedLookup, UserStore, WriteBatch, WriteSpan } from './interface.js';
import { PageStash as SqlitePageStash } from './page-stash.js';
import { loadKnownUsers } from './known-users.js';
import { CYCLE_LEASE, CycleLease, readLeaseHolder } from './lock.js';
import { prepared } from './statements.js';
import { PendingQueue } from './pending.js';
import { GroupTables } from './groups.js';
import { Scope } from './scope.js';
import { SourceUsers } from './source-users.js';
import { StagedChanges } from './staged.js';
import { SyncState, type StateKey } from './state.js';
import { ProgressFile } from './progress.js';
import { UserTable } from './users.js';
import { beginWhenFree, blockingRetry, isBusy, lockWaitsOf, type LockWaits } from './write-wait.js';

export type { Db } from './db.js';
export type { StoreUser } from './users.js';
export { LinkConflictError } from './users.js';
export type { AuditEntry, AuditQuery, ModifiedValue } from './audit.js';
export type { CycleRecord, CycleKind, CycleSet, CycleStatus, FailureClass } from './cycles.js';
export type { MirroredUser } from './source-users.js';
export type { StagedChange, StagedKind } from './staged.js';
export type { FailingUser, RetrySpacing } from './pending.js';
export { UNUSABLE_DATA } from './pending.js';
export { leaseOwner, type LeaseHolder } from './lock.js';
export { StoreWaitAborted, type LockWaitListener } from './write-wait.js';
export { LeaseLostError } from './postgres/lease.js';
export type { ProgressRecord } from './progress.js';
export type * from './interface.js';

/** The SQLite tables, synchronous: the store's own building blocks (and tests' view of the file). */
export interface SqliteTables {
  users: UserTable;
  sourceUsers: SourceUsers;
  scope: Scope;
  pending: PendingQueue;
  state: SyncState;
  cycles: CycleLog;
  audit: AuditLog;
  staged: StagedChanges;
  assignmentListing: AssignmentListing;
  groups: GroupTables;
}

/** The SQLite user store: UserStore over better-sqlite3's synchronous calls. */
export class Store implements UserStore {
  readonly kind = 'sqlite' as const;
  /** Users written between two turns of the event loop (about 50 ms of writes here). */
  readonly usersPerBatch = 250;
  readonly tables: SqliteTables;
  /** Waits for another connection's write lock (the application's): figures, listener, abort. */
  readonly lockWaits: LockWaits;
  /**
   * One transaction wrapper for every call: better-sqlite3 builds four wrapped functions per
   * db.transaction(), which cost more than a small transaction itself when done per user.
   */
  private readonly runner: ReturnType<Db['transaction']>;

  constructor(readonly db: Db) {
    this.lockWaits = lockWaitsOf(db);
    this.runner = db.transaction((fn: () => unknown) => fn());
    this.tables = {
      users: new UserTable(db),
      sourceUsers: new SourceUsers(db),
      scope: new Scope(db),
      pending: new PendingQueue(db),
      state: new SyncState(db),
      cycles: new CycleLog(db),
      audit: new AuditLog(db),
      staged: new StagedChanges(db),
      assignmentListing: new AssignmentListing(db),
      groups: new GroupTables(db),
    };
  }

  static open(path: string, options?: OpenOptions): Store {
    return new Store(openStore(path, options));
  }

  // ── The users pipeline ──
  async knownUsers(entraIds: readonly string[], options: { appRoles: boolean }) {
    return loadKnownUsers(this.db, entraIds, options.appRoles);
  }

  /** SQLite answers any key at once: nothing is fetched ahead and nothing is ever missing. */
  async linkCandidates(): Promise<PrefetchedLookup> {
    const { users } = this.tables;
    return {
      missing: [],
      unlinkedBy: (target, value) => users.findUnlinkedBy(target, value),
      byUserName: (userName) => users.findByUserName(userName),
    };
  }

  async applyBatch(batch: WriteBatch) {
    const t = this.tables;
    return this.writeNow('users batch', () => {
      const applied = applyBatchSqlite({ ...t, savepoint: this.savepoint }, batch);
      fitPageCache(this.db);
      return applied;
    });
  }

  private readonly savepoint = <T>(fn: () => T): T => this.runner(fn) as T;

  /** `fn` in the open transaction, or in one of its own once the write lock is free. */
  private async writeNow<T>(operation: string, fn: () => T): Promise<T> {
    if (this.db.inTransaction) return fn();
    return beginWhenFree(this.db, operation, () => this.commitOrRollback(fn));
  }

  readonly users: UserStore['users'] = {
    get: async (id) => this.tables.users.get(id),
    findByUserName: async (userName) => this.tables.users.findByUserName(userName),
    counts: async () => this.tables.users.counts(),
    inUserNameOrder: () => this.usersInUserNameOrder(),
  };

  private async *usersInUserNameOrder() {
    const { users } = this.tables;
    for (const id of users.idsByUserName()) {
      const user = users.get(id);
      if (user) yield user;
    }
  }

  readonly scope: UserStore['scope'] = {
    applyGroupPage: async (writes, generation) => {
      const { scope, pending, groups } = this.tables;
      for (const w of writes) {
        if (w.op === 'removeGroup') {
          scope.removeGroup(w.groupId);
          groups.removeSource(w.groupId);
          continue;
        }
        if (w.op === 'groupAttributes') {
          groups.upsertSource(w.groupId, w.displayName, w.attributes, generation);
          continue;
        }
        if (w.op === 'add') scope.addMember(w.membership, generation);
        else scope.removeMember(w.groupId, w.memberId);
        const member = w.op === 'add' ? w.membership : w;
        if (member.memberType === 'user') pending.mark(member.memberId);
        groups.markMembers(member.groupId);
      }
    },
    dropUnseenMemberships: async (generation) => {
      this.tables.groups.markUnseen(generation);
      return this.tables.scope.dropUnseenMemberships(generation);
    },
    beginListing: async () => this.tables.assignmentListing.begin(),
    addToListing: async (items) => this.tables.assignmentListing.add(items),
    commitListing: async (appRoles, expandNested) => {
      const { scope, assignmentListing } = this.tables;
      if (appRoles)
        scope.setAppRoles(
          appRoles.map((r) => ({ id: r.appRoleId, value: r.value, displayName: r.displayName })),
        );
      const changes = assignmentListing.commit();
      const groups = scope.refreshScopeGroups(expandNested);
      return { ...changes, groupsEntered: groups.entered, groupsLeft: groups.left };
    },
    isAssigned: async (principalId, principalType) =>
      this.tables.scope.isAssigned(principalId, principalType),
    relevantUserIds: async () => this.tables.scope.relevantUserIds(),
    relevantUserCount: async (limit) => this.tables.scope.relevantUserCount(limit),
    unmirroredInScope: async () => this.tables.scope.unmirroredInScope(),
    unseenLinked: async (generation, afterId, limit) =>
      this.tables.sourceUsers.unseenLinked(generation, afterId, limit),
    forgetUnseenUnlinked: async (generation) => this.tables.sourceUsers.forgetUnseenUnlinked(generation),
  };

  readonly groups: UserStore['groups'] = {
    duePlan: async (afterId, limit) => this.tables.groups.duePlan(afterId, limit),
    known: async (entraIds) => this.tables.groups.known(entraIds),
    unlinkedByDisplayName: async (names) => this.tables.groups.unlinkedByDisplayName(names),
    apply: (cycleId, writes, spacing) =>
      this.writeNow('groups', () => this.tables.groups.apply(cycleId, writes, spacing, this.savepoint)),
    settleMemberships: (cycleId, options) =>
      this.writeNow('group memberships', () => this.tables.groups.settle(cycleId, options)),
    markAllForPlan: () => this.writeNow('groups', () => this.tables.groups.markAllForPlan()),
    failingCount: async () => this.tables.groups.failingCount(),
    retryFailed: async (group) => this.tables.groups.retryFailed(group),
    counts: async () => this.tables.groups.counts(),
    find: async (key) => this.tables.groups.find(key),
    mirroredByDisplayName: async (name) => this.tables.groups.mirroredByDisplayName(name),
    memberIds: async (groupId) => this.tables.groups.memberIds(groupId),
    inDisplayNameOrder: () => this.groupsInDisplayNameOrder(),
  };

  /** Pages of 500 rows: never the whole table in memory. */
  private async *groupsInDisplayNameOrder() {
    let after: [string, string] | null = null;
    for (;;) {
      const page = this.tables.groups.page(after, 500);
      yield* page;
      if (page.length < 500) return;
      const last = page[page.length - 1]!;
      after = [last.displayName, last.id];
    }
  }

  readonly pending: UserStore['pending'] = {
    dueAfter: async (afterId, limit, cycleId) => this.tables.pending.dueAfter(afterId, limit, cycleId),
    dueUnusable: async (cycleId) => this.tables.pending.dueUnusable(cycleId),
    failing: async (limit) => this.tables.pending.failing(limit),
    failingCount: async () => this.tables.pending.failingCount(),
    retryFailed: async (entraId) => this.tables.pending.retryFailed(entraId),
    count: async () => this.tables.pending.count(),
  };

  readonly staged: UserStore['staged'] = {
    after: async (entraId, limit) => this.tables.staged.after(entraId, limit),
    list: async (limit) => this.tables.staged.list(limit),
    counts: async () => this.tables.staged.counts(),
    restage: async (changes) => {
      for (const c of changes) this.tables.staged.stage(c.entraId, c.cycleId, c.kind, c.userName);
    },
    remove: async (entraIds) => {
      for (const id of entraIds) this.tables.staged.remove(id);
    },
    holdAll: async () => this.tables.staged.holdAll(),
    rejectAll: async () => this.tables.staged.rejectAll(),
    clear: async () => this.tables.staged.clear(),
  };

  readonly state: UserStore['state'] = {
    get: async (key) => this.tables.state.get(key),
    set: async (values) => {
      for (const [key, value] of Object.entries(values)) this.tables.state.set(key as StateKey, value);
    },
    nextGeneration: async () => this.tables.state.nextGeneration(),
    forgetDeltaState: async () => this.tables.state.forgetDeltaState(),
    firstReport: async (elementKey) => this.tables.state.firstReport(elementKey),
  };

  private progressFile: ProgressFile | null = null;
  /** A store in memory (a dry run with no store yet) has no file beside it, and nothing to show. */
  private get progressSidecar(): ProgressFile | null {
    // Closed (a cycle cut short at shutdown): its tracker's last ticks write nothing.
    if (this.db.memory || !this.db.open) return null;
    return (this.progressFile ??= new ProgressFile(this.db.name));
  }

  readonly progress: UserStore['progress'] = {
    publish: async (record) => this.progressSidecar?.write(record),
    read: async () => this.progressSidecar?.read() ?? null,
    clear: async (cycleId) => this.progressSidecar?.clear(cycleId),
  };

  readonly cycles: UserStore['cycles'] = {
    start: async (id, kind, dryRun) => this.tables.cycles.start(id, kind, dryRun),
    finish: async (...args) => this.tables.cycles.finish(...args),
    get: async (id) => this.tables.cycles.get(id),
    recent: async (limit, which) => this.tables.cycles.recent(limit, which),
    lastSucceeded: async () => this.tables.cycles.lastSucceeded(),
    markAbandoned: async () => this.tables.cycles.markAbandoned(),
  };

  readonly audit: UserStore['audit'] = {
    append: async (entries) => {
      for (const e of entries) this.tables.audit.append(e);
    },
    query: async (q) => this.tables.audit.query(q),
  };

  // ── Transactions ──
  /**
   * Runs `fn` in a write transaction, waiting for another connection's write lock between short
   * attempts so the event loop keeps turning. Inside an open transaction (a span, a dry run) it is a
   * savepoint and waits for nothing.
   */
  async write<T>(fn: () => Promise<T>, operation: string): Promise<T> {
    if (this.db.inTransaction) return this.inSavepoint(fn);
    const span = await this.writeSpan(operation);
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      await span.rollback();
      throw error;
    }
    await span.commit();
    return result;
  }

  private async inSavepoint<T>(fn: () => Promise<T>): Promise<T> {
    this.db.exec('SAVEPOINT write');
    try {
      const result = await fn();
      this.db.exec('RELEASE write');
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK TO write; RELEASE write');
      throw error;
    }
  }

  /**
   * Runs `fn` (synchronous) in a transaction at once. When another connection holds the write lock
   * this blocks the event loop for the wait: for the CLI's short commands only.
   */
  transactionNow<T>(fn: () => T): T {
    let ran = false;
    const body = () => {
      ran = true;
      return fn();
    };
    try {
      return this.runner.immediate(body) as T;
    } catch (error) {
      // Only a BEGIN that found the lock taken is tried again, never a half-run `fn`.
      if (ran || !isBusy(error)) throw error;
      return blockingRetry(this.db, error, () => this.runner.immediate(fn) as T);
    }
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  writeSpan(operation: string): Promise<WriteSpan> {
    const db = this.db;
    return beginWhenFree(db, operation, () => ({
      // A COMMIT that fails (a full disk) leaves nothing open behind it.
      commit: async () => {
        try {
          db.exec('COMMIT');
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw error;
        }
      },
      // A transaction SQLite already rolled back (a disk error) is left as it is.
      rollback: async () => {
        if (db.inTransaction) db.exec('ROLLBACK');
      },
    }));
  }

  /** Everything `fn` does happens in one transaction, rolled back at the end; writes inside wait for nothing. */
  async dryRun<T>(fn: () => Promise<T>): Promise<T> {
    await beginWhenFree(this.db, 'dry run', () => undefined);
    try {
      return await fn();
    } finally {
      this.rollbackOpen();
    }
  }

  /**
   * Rolls back a write a cut-short cycle left open (a users batch waiting for its next page), so
   * that what is recorded after it is not a savepoint inside that batch, undone when the store closes.
   */
  async abandonOpenWrite(): Promise<void> {
    this.rollbackOpen();
  }

  private rollbackOpen(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  private commitOrRollback<T>(fn: () => T): T {
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  pageStash<T>(name: string): PageStash<T> {
    return new SqlitePageStash<T>(this.db, name);
  }

  cycleLease(owner: string, ttlMs: number): CycleLease {
    return new CycleLease(this.db, owner, ttlMs);
  }

  async leaseHolder(now = Date.now()) {
    return readLeaseHolder(this.db, CYCLE_LEASE, now);
  }

  /**
   * A cycle cut short at shutdown: unless another process holds the lease now, its open write is
   * rolled back, it is recorded as aborted and `owner`'s lease released; then the store is closed, in
   * the same synchronous step, so the cycle cannot wake up and write after its lease is gone.
   */
  async closeInterrupted(owner: string): Promise<void> {
    try {
      const holder = readLeaseHolder(this.db, CYCLE_LEASE);
      if (holder && holder.owner !== owner) return;
      this.rollbackOpen();
      this.progressSidecar?.clearOwnedBy(owner);
      this.transactionNow(() => {
        this.tables.cycles.markAbandoned();
        prepared(this.db, 'DELETE FROM locks WHERE name = ? AND owner = ?').run(CYCLE_LEASE, owner);
      });
    } finally {
      this.db.close();
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
