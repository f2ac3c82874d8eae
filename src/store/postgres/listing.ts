import type pg from 'pg';
import type { ListedAssignment, PageStash } from '../interface.js';
import { ListingDigest } from '../listing-digest.js';
import { addToListing } from './scope-ops.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Rows per INSERT when a changed listing is loaded for the comparison. */
const LOAD_ROWS = 10_000;

/**
 * The assignment listing of one cycle on PostgreSQL. Pages wait in a local stash (nothing is written
 * while they are read: one transaction per page cost 100 commits and lease checks at 100,000
 * assignments, on every cycle) with their digest; at commit, an unchanged digest (almost every
 * cycle) writes nothing, and a changed listing is loaded into `assignments_listing`, in the
 * committing transaction, for the comparison in SQL (scope-ops.ts).
 */
export class PostgresListing {
  private digest = new ListingDigest();

  constructor(private readonly pages: PageStash<readonly ListedAssignment[]>) {}

  begin(): void {
    this.pages.clear();
    this.digest = new ListingDigest();
  }

  add(items: readonly ListedAssignment[]): void {
    for (const a of items) this.digest.add(a);
    this.pages.push(items);
  }

  /** Loads a listing whose digest differs from `saved` and returns the new digest; null when equal. */
  async load(db: Queryable, s: string, saved: string | null): Promise<string | null> {
    const digest = this.digest.toString();
    try {
      if (saved === digest) return null;
      await db.query(`DELETE FROM "${s}".assignments_listing`);
      let rows: ListedAssignment[] = [];
      for (let page = this.pages.shift(); page; page = this.pages.shift()) {
        rows = rows.concat(page);
        if (rows.length >= LOAD_ROWS) {
          await addToListing(db, s, rows);
          rows = [];
        }
      }
      await addToListing(db, s, rows);
      return digest;
    } finally {
      this.pages.clear();
    }
  }
}
