import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { assignmentKey as keyOf, hash64, join64, ListingDigest } from './listing-digest.js';
import { PageStash } from './page-stash.js';
import { SyncState } from './state.js';
import { prepared } from './statements.js';

export interface ListedAssignment {
  principalId: string;
  principalType: string;
  appRoleId: string;
}

/**
 * The assignment listing of one cycle. There is no delta for assignments, so every cycle lists them
 * all (graph-semantics §3); almost always the listing is the one of the cycle before.
 *
 * While pages arrive, each is kept in a PageStash (one JSON row per page of a temporary table, spilling
 * to a temporary file beyond the temp cache, see db.ts), and each assignment leaves only a 64-bit
 * hash here: 8 bytes per assignment, 8 MB at a million. When the listing's digest (ListingDigest)
 * equals the one saved with the last listing applied, nothing changed and nothing is compared. Otherwise the sorted hashes find the differences in one
 * pass over `assignments` and one over the pages, with no per-row SQL beyond the rows that changed.
 * An interrupted listing changes nothing: it lives only in temporary tables and memory.
 */
export class AssignmentListing {
  private readonly state: SyncState;
  private hashes = new HashList();
  private listed = new ListingDigest();

  private readonly pendingUser: Statement<[string]>;
  private readonly pendingMembers: Statement<[string]>;
  private readonly pendingGroup: Statement<[string]>;
  private readonly pages: PageStash<readonly ListedAssignment[]>;

  constructor(private readonly db: Db) {
    this.state = new SyncState(db);
    this.pages = new PageStash(db, 'assignment_pages');
    // A scope change is a new fact: a failing user becomes due at once (its disable must not wait).
    this.pendingUser = db.prepare(
      'INSERT INTO pending_users (entra_id) VALUES (?) ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL',
    );
    this.pendingMembers = db.prepare(
      `INSERT INTO pending_users (entra_id)
       SELECT member_id FROM entra_group_members WHERE group_id = ? AND member_type = 'user'
       ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL`,
    );
    // A group assigned or unassigned is planned again (groups provisioning), a failing one at once.
    this.pendingGroup = db.prepare(
      `INSERT INTO pending_groups (entra_id, plan) VALUES (?, 1)
       ON CONFLICT (entra_id) DO UPDATE SET plan = 1, retry_after = NULL`,
    );
  }

  begin(): void {
    this.pages.clear();
    this.hashes = new HashList();
    this.listed = new ListingDigest();
  }

  add(items: readonly ListedAssignment[]): void {
    for (const a of items) this.hashes.push(this.listed.add(a));
    this.pages.push(items);
  }

  /** This listing's digest: equal digests mean equal listings (up to a 2^-64 chance). */
  digest(): string {
    return this.listed.toString();
  }

  /**
   * Called only after the listing completed: assignments (principal, role) that appeared or vanished
   * make their users, and the members of their groups, pending (their scope or their roles changed);
   * then they are applied to the assignment set, and the digest saved with them.
   */
  commit(): { added: number; removed: number; unchanged: boolean } {
    const digest = this.digest();
    try {
      if (this.state.get('assignments_digest') === digest) return { added: 0, removed: 0, unchanged: true };
      const removed = this.removeUnlisted();
      const added = this.addNew(removed.remaining);
      this.state.set('assignments_digest', digest);
      return { added, removed: removed.count, unchanged: false };
    } finally {
      this.pages.clear();
      this.hashes = new HashList();
    }
  }

  /** Deletes the assignments not listed; returns the sorted hashes of the ones that stay. */
  private removeUnlisted(): { count: number; remaining: BigUint64Array } {
    const listed = this.hashes.sorted();
    const chunk = prepared<[string, string, number], Row>(
      this.db,
      `SELECT principal_id, principal_type, app_role_id FROM assignments
       WHERE (principal_id, app_role_id) > (?, ?) ORDER BY principal_id, app_role_id LIMIT ?`,
    );
    const remove = prepared(this.db, 'DELETE FROM assignments WHERE principal_id = ? AND app_role_id = ?');
    const remaining = new HashList();
    let count = 0;
    let after = ['', ''] as [string, string];
    for (;;) {
      const rows = chunk.all(after[0], after[1], 5000);
      if (rows.length === 0) break;
      const last = rows[rows.length - 1]!;
      after = [last.principal_id, last.app_role_id];
      for (const row of rows) {
        const h = join64(...hash64(keyOf(row.principal_id, row.principal_type, row.app_role_id)));
        if (contains(listed, h)) {
          remaining.push(h);
          continue;
        }
        remove.run(row.principal_id, row.app_role_id);
        this.markChanged(row.principal_id, row.principal_type);
        count++;
      }
    }
    return { count, remaining: remaining.sorted() };
  }

  /** Inserts the listed assignments that are not stored yet. */
  private addNew(stored: BigUint64Array): number {
    const insert = prepared(
      this.db,
      'INSERT OR REPLACE INTO assignments (principal_id, principal_type, app_role_id) VALUES (?, ?, ?)',
    );
    // One page at a time: the first listing adds every assignment, 130 MB of pages at a million.
    let count = 0;
    for (let page = this.pages.shift(); page; page = this.pages.shift()) {
      for (const a of page) {
        if (contains(stored, join64(...hash64(keyOf(a.principalId, a.principalType, a.appRoleId))))) continue;
        if (insert.run(a.principalId, a.principalType, a.appRoleId).changes > 0) count++;
        this.markChanged(a.principalId, a.principalType);
      }
    }
    return count;
  }

  /** A user whose assignment changed, or every user member of a group whose assignment changed. */
  private markChanged(principalId: string, principalType: string): void {
    if (principalType === 'User') this.pendingUser.run(principalId);
    else if (principalType === 'Group') {
      this.pendingMembers.run(principalId);
      this.pendingGroup.run(principalId);
    }
  }
}

interface Row {
  principal_id: string;
  principal_type: string;
  app_role_id: string;
}

/** 64-bit hashes, appended to a buffer that doubles when full. */
class HashList {
  private buffer = new BigUint64Array(1024);
  length = 0;

  push(h: bigint): void {
    if (this.length === this.buffer.length) {
      const grown = new BigUint64Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = h;
  }

  /** The hashes in order, sorted in place (the list is not appended to afterwards). */
  sorted(): BigUint64Array {
    return this.buffer.subarray(0, this.length).sort();
  }
}

/** Binary search in sorted hashes. */
function contains(sorted: BigUint64Array, h: bigint): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === h) return true;
    if (v < h) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
