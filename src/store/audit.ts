import type { Db } from './db.js';
import { userHistory } from './named-user.js';
import { prepared } from './statements.js';

export interface ModifiedValue {
  target: string;
  oldValue: unknown;
  newValue: unknown;
}

export interface AuditEntry {
  seq: number;
  cycleId: string;
  at: string;
  action: string;
  status: 'success' | 'failure' | 'skipped';
  entraId: string | null;
  userId: string | null;
  userName: string | null;
  modified: ModifiedValue[];
  /** Machine-readable (README, "Reading the audit"); null on rows written before it was kept. */
  reasonCode: string | null;
  reason: string | null;
}

export interface AuditQuery {
  cycleId?: string;
  userName?: string;
  /**
   * A local id, an Entra object id or any userName the user had (case-insensitive): the whole
   * history of that Entra user, across renames; rows not about an Entra user by their userName.
   */
  user?: string;
  action?: string;
  since?: string;
  limit?: number;
}

export interface AuditRow {
  seq: number;
  cycle_id: string;
  at: string;
  action: string;
  status: AuditEntry['status'];
  entra_id: string | null;
  user_id: string | null;
  user_name: string | null;
  modified: string;
  reason_code: string | null;
  reason: string | null;
}

/** Append-only, like Entra's provisioning logs: one row per change, written with the change itself. */
export class AuditLog {
  private readonly insertStmt;
  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO audit (cycle_id, at, action, status, entra_id, user_id, user_name, modified, reason_code, reason)
       VALUES (@cycleId, @at, @action, @status, @entraId, @userId, @userName, @modified, @reasonCode, @reason)`,
    );
  }

  append(entry: Omit<AuditEntry, 'seq' | 'at'>): void {
    this.insertStmt.run({ ...entry, at: new Date().toISOString(), modified: JSON.stringify(entry.modified) });
  }

  query(q: AuditQuery): AuditEntry[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.cycleId) {
      where.push('cycle_id = ?');
      params.push(q.cycleId);
    }
    if (q.userName) {
      where.push('user_name = ? COLLATE NOCASE');
      params.push(q.userName);
    }
    if (q.user) {
      // One parameter, used in several places: named, so it is bound once.
      where.push(userHistory('', '@user', (c) => `${c} = @user COLLATE NOCASE`));
      params.push({ user: q.user });
    }
    if (q.action) {
      where.push('action = ?');
      params.push(q.action);
    }
    if (q.since) {
      where.push('at >= ?');
      params.push(q.since);
    }
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    const rows = prepared(this.db, sql).all(...params, q.limit ?? 100) as AuditRow[];
    return rows.reverse().map(toAuditEntry);
  }
}

export const toAuditEntry = (r: AuditRow): AuditEntry => ({
  seq: r.seq,
  cycleId: r.cycle_id,
  at: r.at,
  action: r.action,
  status: r.status,
  entraId: r.entra_id,
  userId: r.user_id,
  userName: r.user_name,
  modified: JSON.parse(r.modified) as ModifiedValue[],
  reasonCode: r.reason_code,
  reason: r.reason,
});
