import type { AuditDraft } from '../plan/audit-entry.js';
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
  /** 'group' for a group's rows and its members' (entraId then the Entra group's id). */
  objectType: 'user' | 'group';
  /** The local group (groups.id) and its display name, on group rows. */
  groupId: string | null;
  groupName: string | null;
}

export interface AuditQuery {
  cycleId?: string;
  userName?: string;
  /**
   * A local id, an Entra object id or any userName the user had (case-insensitive): the whole
   * history of that Entra user, across renames; rows not about an Entra user by their userName.
   */
  user?: string;
  /** A local group id, an Entra group id or a group's display name (case-insensitive). */
  group?: string;
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
  object_type: 'user' | 'group';
  group_id: string | null;
  group_name: string | null;
}

/**
 * Audit rows of the groups named by `p`: by local id, Entra id or current display name (`same`
 * compares a column with it case-insensitively), and every row of those groups' local ids, so a
 * group's history survives its renames. `t` prefixes table names (the PostgreSQL schema).
 */
export const groupHistory = (t: string, p: string, same: (column: string) => string) =>
  `group_id IN (SELECT CAST(${p} AS TEXT) UNION SELECT id FROM ${t}groups WHERE external_id = ${p} OR ${same('display_name')}
     UNION SELECT group_id FROM ${t}audit WHERE entra_id = ${p} AND object_type = 'group' AND group_id IS NOT NULL)`;

/** The columns of an audit draft, defaults filled in (a user's row unless it says otherwise). */
export const auditColumns = (e: AuditDraft) => ({
  objectType: e.objectType ?? 'user',
  groupId: e.groupId ?? null,
  groupName: e.groupName ?? null,
});

/** Append-only, like Entra's provisioning logs: one row per change, written with the change itself. */
export class AuditLog {
  private readonly insertStmt;
  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO audit (cycle_id, at, action, status, entra_id, user_id, user_name, modified, reason_code, reason,
         object_type, group_id, group_name)
       VALUES (@cycleId, @at, @action, @status, @entraId, @userId, @userName, @modified, @reasonCode, @reason,
         @objectType, @groupId, @groupName)`,
    );
  }

  append(entry: AuditDraft): void {
    this.insertStmt.run({
      cycleId: entry.cycleId,
      action: entry.action,
      status: entry.status,
      entraId: entry.entraId,
      userId: entry.userId,
      userName: entry.userName,
      reasonCode: entry.reasonCode,
      reason: entry.reason,
      ...auditColumns(entry),
      at: new Date().toISOString(),
      modified: JSON.stringify(entry.modified),
    });
  }

  query(q: AuditQuery): AuditEntry[] {
    const where: string[] = [];
    const params: unknown[] = [];
    // Named parameters, used in several places and so bound once; better-sqlite3 takes one object.
    const named: Record<string, string> = {};
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
      named.user = q.user;
    }
    if (q.group) {
      where.push(groupHistory('', '@group', (c) => `${c} = @group COLLATE NOCASE`));
      named.group = q.group;
    }
    if (q.action) {
      where.push('action = ?');
      params.push(q.action);
    }
    if (q.since) {
      where.push('at >= ?');
      params.push(q.since);
    }
    if (Object.keys(named).length > 0) params.push(named);
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
  objectType: r.object_type ?? 'user',
  groupId: r.group_id ?? null,
  groupName: r.group_name ?? null,
});
