import type { Db } from './db.js';

/**
 * A write transaction its holder keeps open across awaits (a batch of users written in chunks) and
 * ends itself: Store.beginSpan opens it once the write lock is free.
 */
export class WriteSpan {
  constructor(private readonly db: Db) {}

  /** A COMMIT that fails (a full disk) leaves nothing open behind it. */
  commit(): void {
    try {
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /** After a failure; a transaction SQLite already rolled back (a disk error) is left as it is. */
  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }
}
