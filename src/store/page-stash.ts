import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { prepared } from './statements.js';

/**
 * A queue of pages read from Graph before they can be written, in a temporary table: one JSON row
 * per page, spilling to a temporary file beyond the temp cache (db.ts), so holding many of them
 * costs no memory. Nothing here is durable: an interrupted cycle loses the stash and reads again.
 */
export class PageStash<T> {
  private insert: Statement<[number, string]> | undefined;
  private take: Statement<[number], string> | undefined;
  private remove: Statement<[number]> | undefined;
  /** Sequence numbers of the oldest page held and of the next page pushed. */
  private head = 0;
  private tail = 0;

  constructor(
    private readonly db: Db,
    private readonly table: string,
  ) {}

  /** Pages held. */
  get size(): number {
    return this.tail - this.head;
  }

  clear(): void {
    this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${this.table} (seq INTEGER PRIMARY KEY, page TEXT NOT NULL);
      DELETE FROM temp.${this.table};`);
    this.insert = prepared<[number, string]>(
      this.db,
      `INSERT INTO temp.${this.table} (seq, page) VALUES (?, ?)`,
    );
    this.take = prepared<[number], string>(
      this.db,
      `SELECT page FROM temp.${this.table} WHERE seq = ?`,
    ).pluck();
    this.remove = prepared<[number]>(this.db, `DELETE FROM temp.${this.table} WHERE seq = ?`);
    this.head = this.tail = 0;
  }

  push(page: T): void {
    if (!this.insert) this.clear();
    this.insert!.run(this.tail, JSON.stringify(page));
    this.tail++;
  }

  /** The oldest page held, removed from the stash; undefined when it is empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const text = this.take!.get(this.head);
    this.remove!.run(this.head);
    this.head++;
    if (text === undefined) throw new Error(`page ${this.head - 1} of ${this.table} is missing`);
    return JSON.parse(text) as T;
  }
}
