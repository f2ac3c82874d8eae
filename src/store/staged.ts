import type { Db } from './db.js';
import { prepared } from './statements.js';

/** 'delete-group': a group's delete (entra_id the Entra group, user_name its display name). */
export type StagedKind = 'disable' | 'delete' | 'delete-group';

export interface StagedChange {
  entraId: string;
  cycleId: string;
  kind: StagedKind;
  userName: string | null;
  stagedAt: string;
  held: boolean;
  rejected: boolean;
}

export interface StagedRow {
  entra_id: string;
  cycle_id: string;
  kind: StagedKind;
  user_name: string | null;
  staged_at: string;
  held: number;
  rejected: number;
}

export const toChange = (r: StagedRow): StagedChange => ({
  entraId: r.entra_id,
  cycleId: r.cycle_id,
  kind: r.kind,
  userName: r.user_name,
  stagedAt: r.staged_at,
  held: r.held === 1,
  rejected: r.rejected === 1,
});

/** Disables and deletes waiting for the end of their cycle, or held by the deletion threshold. */
export class StagedChanges {
  private readonly stageStmt;
  private readonly removeStmt;

  constructor(private readonly db: Db) {
    this.stageStmt = db.prepare(
      `INSERT INTO staged_changes (entra_id, cycle_id, kind, user_name, staged_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (entra_id) DO UPDATE SET kind = excluded.kind, user_name = excluded.user_name`,
    );
    this.removeStmt = db.prepare('DELETE FROM staged_changes WHERE entra_id = ?');
  }

  /** A change already held keeps its cycle and flags; a new one joins the current cycle. */
  stage(entraId: string, cycleId: string, kind: StagedKind, userName: string | null): void {
    this.stageStmt.run(entraId, cycleId, kind, userName, new Date().toISOString());
  }

  /** Runs for every user applied: a statement prepared once, not per call. */
  remove(entraId: string): void {
    this.removeStmt.run(entraId);
  }

  after(entraId: string, limit: number): StagedChange[] {
    return (
      prepared(this.db, 'SELECT * FROM staged_changes WHERE entra_id > ? ORDER BY entra_id LIMIT ?').all(
        entraId,
        limit,
      ) as StagedRow[]
    ).map(toChange);
  }

  counts(): { total: number; held: number; rejected: number } {
    return prepared(
      this.db,
      `SELECT count(*) AS total, coalesce(sum(held), 0) AS held, coalesce(sum(rejected), 0) AS rejected FROM staged_changes`,
    ).get() as { total: number; held: number; rejected: number };
  }

  list(limit = 1000): StagedChange[] {
    return (
      prepared(this.db, 'SELECT * FROM staged_changes ORDER BY staged_at, entra_id LIMIT ?').all(
        limit,
      ) as StagedRow[]
    ).map(toChange);
  }

  holdAll(): void {
    this.db.exec('UPDATE staged_changes SET held = 1');
  }

  /** reject-deletions: the held changes are never applied while they stay planned. */
  rejectAll(): number {
    return prepared(this.db, 'UPDATE staged_changes SET rejected = 1 WHERE held = 1').run().changes;
  }

  clear(): void {
    this.db.exec('DELETE FROM staged_changes');
  }
}
