import { AssignmentListing } from './assignment-listing.js';
import { AuditLog } from './audit.js';
import { CycleLog } from './cycles.js';
import { fitPageCache, openStore, type Db, type OpenOptions } from './db.js';
import { CYCLE_LEASE, CycleLease, readLeaseHolder, type LeaseHolder } from './lock.js';
import { Mirror } from './mirror.js';
import { SyncState } from './state.js';
import { UserTable } from './users.js';
import { StagedChanges } from './staged.js';
import {
  beginWhenFree,
  blockingRetry,
  isBusy,
  lockWaitsOf,
  writeWhenFree,
  type LockWaits,
} from './write-wait.js';
import { WriteSpan } from './write-span.js';

export type { Db } from './db.js';
export type { StoreUser } from './users.js';
export { LinkConflictError } from './users.js';
export type { AuditEntry, AuditQuery, ModifiedValue } from './audit.js';
export type { CycleRecord, CycleKind, CycleStatus, FailureClass } from './cycles.js';
export type { MirroredUser } from './mirror.js';
export type { StagedChange } from './staged.js';
export { CycleLease, leaseOwner, type LeaseHolder } from './lock.js';
export type { WriteSpan } from './write-span.js';
export { StoreWaitAborted, type LockWaitListener } from './write-wait.js';

/** The SQLite store, one object per table family. */
export class Store {
  readonly users: UserTable;
  readonly mirror: Mirror;
  readonly state: SyncState;
  readonly cycles: CycleLog;
  readonly audit: AuditLog;
  readonly staged: StagedChanges;
  readonly assignmentListing: AssignmentListing;
  /**
   * One transaction wrapper for every call: better-sqlite3 builds four wrapped functions per
   * db.transaction(), which cost more than a small transaction itself when done per user.
   */
  private readonly runner: ReturnType<Db['transaction']>;

  /** Waits for another connection's write lock (the application's): figures, listener, abort. */
  readonly lockWaits: LockWaits;

  constructor(readonly db: Db) {
    this.lockWaits = lockWaitsOf(db);
    this.runner = db.transaction((fn: () => unknown) => fn());
    this.users = new UserTable(db);
    this.mirror = new Mirror(db);
    this.state = new SyncState(db);
    this.cycles = new CycleLog(db);
    this.audit = new AuditLog(db);
    this.staged = new StagedChanges(db);
    this.assignmentListing = new AssignmentListing(db);
  }

  static open(path: string, options?: OpenOptions): Store {
    return new Store(openStore(path, options));
  }

  /**
   * Runs `fn` in a transaction (a savepoint when one is already open, as in a dry run). When another
   * connection holds the write lock this blocks the event loop for the wait: code that can await
   * uses `write` instead.
   */
  transaction<T>(fn: () => T): T {
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

  /**
   * Runs `fn` (synchronous) in a write transaction, waiting for another connection's write lock
   * between short attempts, so the event loop keeps turning (probes, metrics, signals). The wait is
   * bounded by sync.busyTimeoutSeconds; `operation` names it in the log.
   */
  async write<T>(fn: () => T, operation: string): Promise<T> {
    if (this.db.inTransaction) return this.runner(fn) as T;
    return writeWhenFree(this.db, operation, fn);
  }

  /** Whether a transaction is open on this connection (a dry run's, or a span's). */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /** Opens a write transaction, waiting as `write` does, that the caller ends (a batch across awaits). */
  beginSpan(operation: string): Promise<WriteSpan> {
    return beginWhenFree(this.db, operation, () => new WriteSpan(this.db));
  }

  /**
   * A dry run: everything until endDryRun happens in one transaction that endDryRun rolls back.
   * Writes in between (`write`, `transaction`) become savepoints inside it and wait for nothing.
   */
  async beginDryRun(): Promise<void> {
    await beginWhenFree(this.db, 'dry run', () => undefined);
  }

  /** Rolls the dry run back; nothing to do when it never began or SQLite already ended it. */
  endDryRun(): void {
    this.abandonOpenWrite();
  }

  /**
   * Rolls back a write a cut-short cycle left open (a users batch waiting for its next page), so
   * that what is recorded after it is not a savepoint inside that batch, undone when the store closes.
   */
  abandonOpenWrite(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  /** Sizes the page cache to the store as it grows (see fitPageCache). */
  fitPageCache(): void {
    fitPageCache(this.db);
  }

  /** The cross-process cycle lease for `owner`, expiring `ttlMs` after each take or renewal. */
  cycleLease(owner: string, ttlMs: number): CycleLease {
    return new CycleLease(this.db, owner, ttlMs);
  }

  /** Who holds the cycle lease now; null when no one does or the lease expired by `now`. */
  leaseHolder(now = Date.now()): LeaseHolder | null {
    return readLeaseHolder(this.db, CYCLE_LEASE, now);
  }

  close(): void {
    this.db.close();
  }
}
