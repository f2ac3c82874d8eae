import type { Db } from './db.js';

/**
 * A write transaction its holder keeps open across awaits (a batch of users written in chunks) and
 * ends itself: Store.beginSpan opens it once the write lock is free.
 */
export class WriteSpan {
  constructor(private readonly db: Db) {}

  commit(): void {
    this.db.exec('COMMIT');
  }

  /** After a failure; a transaction SQLite already rolled back (a disk error) is left as it is. */
  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }
}
