import type { Db } from './db.js';
import { SyncState } from './state.js';

export interface ListedAssignment {
  principalId: string;
  principalType: string;
  appRoleId: string;
}

/**
 * The assignment listing of one cycle. There is no delta for assignments, so every cycle lists them
 * all (graph-semantics §3); almost always the listing is the one of the cycle before.
 *
 * While pages arrive, each is kept as one JSON row of a temporary table (cheap: one row per page,
 * spilling to a temporary file beyond the temp cache, see db.ts) and folded into a digest: the
 * count and two 32-bit sums of a hash per assignment, which do not depend on order. When the digest
 * equals the one saved with the last listing applied, nothing changed and nothing is unpacked or
 * compared. Otherwise the pages are unpacked into a keyed table and diffed against `assignments`.
 * An interrupted listing changes nothing: it lives only in temporary tables.
 */
export class AssignmentListing {
  private readonly state: SyncState;
  private count = 0;
  private sumA = 0;
  private sumB = 0;

  constructor(private readonly db: Db) {
    this.state = new SyncState(db);
  }

  begin(): void {
    this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS assignment_pages (items TEXT NOT NULL);
      DELETE FROM temp.assignment_pages;`);
    this.count = this.sumA = this.sumB = 0;
  }

  add(items: readonly ListedAssignment[]): void {
    for (const a of items) {
      const [h1, h2] = hash64(`${a.principalId}|${a.principalType}|${a.appRoleId}`);
      this.sumA = (this.sumA + h1) >>> 0;
      this.sumB = (this.sumB + h2) >>> 0;
    }
    this.count += items.length;
    this.db.prepare('INSERT INTO temp.assignment_pages (items) VALUES (?)').run(JSON.stringify(items));
  }

  /** This listing's digest: equal digests mean equal listings (up to a 2^-64 chance). */
  digest(): string {
    return `${this.count}:${this.sumA.toString(16)}:${this.sumB.toString(16)}`;
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
      return { ...this.applyDifferences(), unchanged: false };
    } finally {
      this.db.exec('DELETE FROM temp.assignment_pages');
    }
  }

  private applyDifferences(): { added: number; removed: number } {
    // A heap table indexed once it is full: an index built from sorted keys costs a fraction of
    // inserting 100,000 random keys one by one.
    this.db.exec(`DROP TABLE IF EXISTS temp.assignments_listed;
      CREATE TEMP TABLE assignments_listed (
        principal_id TEXT NOT NULL, principal_type TEXT NOT NULL, app_role_id TEXT NOT NULL);
      INSERT INTO temp.assignments_listed
        SELECT j.value ->> 'principalId', j.value ->> 'principalType', j.value ->> 'appRoleId'
        FROM temp.assignment_pages p, json_each(p.items) j;
      CREATE INDEX temp.assignments_listed_key ON assignments_listed (principal_id, app_role_id);`);
    const missingFrom = (table: string, alias: string) =>
      `NOT EXISTS (SELECT 1 FROM ${table} x WHERE x.principal_id = ${alias}.principal_id
         AND x.app_role_id = ${alias}.app_role_id AND x.principal_type = ${alias}.principal_type)`;
    const added = `SELECT DISTINCT principal_id, principal_type, app_role_id FROM temp.assignments_listed l
      WHERE ${missingFrom('assignments', 'l')}`;
    const removed = `SELECT principal_id, principal_type, app_role_id FROM assignments a
      WHERE ${missingFrom('temp.assignments_listed', 'a')}`;
    const counts = this.db
      .prepare(
        `SELECT (SELECT count(*) FROM (${added})) AS added, (SELECT count(*) FROM (${removed})) AS removed`,
      )
      .get() as { added: number; removed: number };
    if (counts.added + counts.removed > 0) {
      this.db.exec(`
        INSERT OR IGNORE INTO pending_users (entra_id)
          SELECT principal_id FROM (${added} UNION ALL ${removed}) WHERE principal_type = 'User'
          UNION
          SELECT gm.member_id FROM group_members gm JOIN (${added} UNION ALL ${removed}) c
            ON c.principal_id = gm.group_id WHERE c.principal_type = 'Group' AND gm.member_type = 'user';
        DELETE FROM assignments WHERE ${missingFrom('temp.assignments_listed', 'assignments')};
        INSERT OR REPLACE INTO assignments (principal_id, principal_type, app_role_id) ${added};
      `);
    }
    this.db.exec('DROP TABLE temp.assignments_listed');
    this.state.set('assignments_digest', this.digest());
    return counts;
  }
}

/** Two independent 32-bit hashes of a string (cyrb53's mixing, kept as two halves). */
function hash64(text: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}
