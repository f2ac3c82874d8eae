import { AssignmentListing } from './assignment-listing.js';
import { AuditLog } from './audit.js';
import { CycleLog } from './cycles.js';
import { openStore, type Db, type OpenOptions } from './db.js';
import { Mirror } from './mirror.js';
import { SyncState } from './state.js';
import { UserTable } from './users.js';
import { StagedChanges } from './staged.js';

export type { Db } from './db.js';
export type { StoreUser } from './users.js';
export { LinkConflictError } from './users.js';
export type { AuditEntry, AuditQuery, ModifiedValue } from './audit.js';
export type { CycleRecord, CycleKind, CycleStatus, FailureClass } from './cycles.js';
export type { MirroredUser } from './mirror.js';
export type { StagedChange } from './staged.js';
export { CycleLease, leaseOwner } from './lock.js';

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

  constructor(readonly db: Db) {
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

  /** Runs `fn` in a transaction (a savepoint when one is already open, as in a dry run). */
  transaction<T>(fn: () => T): T {
    return this.runner.immediate(fn) as T;
  }

  close(): void {
    this.db.close();
  }
}
