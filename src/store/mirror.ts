import { createHash } from 'node:crypto';
import type { SourceUser } from '../plan/types.js';
import type { AttributeValue } from '../source/types.js';
import type { Db } from './db.js';
import { prepared } from './statements.js';

/** What Graph last said about one user. */
export interface MirroredUser extends SourceUser {
  entraId: string;
  attributes: Record<string, AttributeValue>;
  softDeleted: boolean;
  /** `@removed: deleted` arrived; the row stays until the delete is applied or skipped. */
  hardDeleted: boolean;
  released: boolean;
  generation: number;
}

interface SourceRow {
  entra_id: string;
  attributes: string;
  soft_deleted: number;
  hard_deleted: number;
  released: number;
  generation: number;
}

/**
 * How the escrow entry of a user whose Graph data was unusable begins (pending_users.last_error):
 * such a user's mirror is stale, so it is read again in full when it is due, never merged with a
 * `return=minimal` change.
 */
export const UNUSABLE_DATA = 'unusable data from Graph: ';

/** The user @id is in scope: 1 = directly assigned, 2 = a direct member of a group in scope. */
const IN_SCOPE_CASES = `
  WHEN EXISTS (SELECT 1 FROM assignments WHERE principal_id = @id AND principal_type = 'User') THEN 1
  WHEN EXISTS (SELECT 1 FROM group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
               WHERE gm.member_id = @id AND gm.member_type = 'user') THEN 2`;

/**
 * The local mirror of Graph: users, group memberships, assignments, and the users whose facts
 * changed since they were last planned. Scope changes never touch a user object in Graph, and
 * `return=minimal` sends only what changed, so the facts must be kept here.
 */
export class Mirror {
  private readonly getUserStmt;
  private readonly upsertUserStmt;
  private readonly softDeleteStmt;
  private readonly releaseStmt;
  private readonly deleteUserStmt;
  private readonly deleteMembershipsOfStmt;
  private readonly addMemberStmt;
  private readonly removeMemberStmt;
  private readonly membersOfGroupStmt;
  private readonly removeGroupStmt;
  private readonly addPendingStmt;
  private readonly removePendingStmt;
  private readonly pendingBatchStmt;
  private readonly failPendingStmt;
  private readonly inScopeStmt;
  /**
   * Users upserted during withRecentWrites(), as written: planning reads them right after the
   * upsert, so they are not read back and parsed again. Any other write to a user drops its entry.
   */
  private recent: Map<string, MirroredUser> | null = null;
  /** Scope answers (1 assignment, 2 group, 0 neither) of the same span; scope does not change in it. */
  private recentScope: Map<string, number> | null = null;
  private readonly relevanceStmt;
  private readonly mirroredStmt;
  private readonly markHardDeletedStmt;
  private readonly tombstoneStmt;
  private readonly appRolesStmt;
  private readonly unusableStmt;
  private readonly usableAgainStmt;

  constructor(private readonly db: Db) {
    this.getUserStmt = db.prepare<[string], SourceRow>('SELECT * FROM source_users WHERE entra_id = ?');
    this.upsertUserStmt = db.prepare<
      { id: string; attributes: string; generation: number },
      { released: number; generation: number }
    >(
      `INSERT INTO source_users (entra_id, attributes, soft_deleted, generation) VALUES (@id, @attributes, 0, @generation)
       ON CONFLICT (entra_id) DO UPDATE SET attributes = excluded.attributes, soft_deleted = 0, hard_deleted = 0,
       generation = max(source_users.generation, excluded.generation)
       RETURNING released, generation`,
    );
    this.softDeleteStmt = db.prepare(
      'UPDATE source_users SET soft_deleted = 1, generation = max(generation, ?) WHERE entra_id = ?',
    );
    this.releaseStmt = db.prepare('UPDATE source_users SET released = ? WHERE entra_id = ?');
    this.deleteUserStmt = db.prepare('DELETE FROM source_users WHERE entra_id = ?');
    this.deleteMembershipsOfStmt = db.prepare('DELETE FROM group_members WHERE member_id = ?');
    this.addMemberStmt = db.prepare(
      `INSERT INTO group_members (group_id, member_id, member_type, generation) VALUES (?, ?, ?, ?)
       ON CONFLICT (group_id, member_id) DO UPDATE SET generation = max(generation, excluded.generation)`,
    );
    this.removeMemberStmt = db.prepare('DELETE FROM group_members WHERE group_id = ? AND member_id = ?');
    this.membersOfGroupStmt = db.prepare<[string], { member_id: string; member_type: string }>(
      'SELECT member_id, member_type FROM group_members WHERE group_id = ?',
    );
    this.removeGroupStmt = db.prepare('DELETE FROM group_members WHERE group_id = ?');
    // New facts about a failing user make it due again at once.
    this.addPendingStmt = db.prepare(
      'INSERT INTO pending_users (entra_id) VALUES (?) ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL',
    );
    // A user whose data is unusable stays escrowed whatever its plan did (a decisive disable, say):
    // only usable data, or its removal from Graph, ends that (usableAgain).
    this.removePendingStmt = db.prepare(
      `DELETE FROM pending_users WHERE entra_id = @id
       AND NOT (failures > 0 AND substr(coalesce(last_error, ''), 1, length(@prefix)) = @prefix)`,
    );
    this.usableAgainStmt = db.prepare('DELETE FROM pending_users WHERE entra_id = ?');
    this.pendingBatchStmt = db.prepare<[string, string, string, number], { entra_id: string }>(
      `SELECT entra_id FROM pending_users WHERE entra_id > ? AND (failed_cycle IS NULL OR failed_cycle <> ?)
       AND (retry_after IS NULL OR retry_after <= ?) ORDER BY entra_id LIMIT ?`,
    );
    this.failPendingStmt = db.prepare(
      `INSERT INTO pending_users (entra_id, failed_cycle, failures, last_error, retry_after)
       VALUES (@id, @cycle, 1, @error, @first)
       ON CONFLICT (entra_id) DO UPDATE SET failed_cycle = @cycle, failures = failures + 1,
       -- The unusable-data mark is the user's escrow state: another failure meanwhile does not erase it.
       last_error = CASE WHEN failures > 0 AND substr(coalesce(last_error, ''), 1, length(@prefix)) = @prefix
         AND substr(@error, 1, length(@prefix)) <> @prefix THEN last_error ELSE @error END,
       retry_after = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',
         '+' || min(@maxSeconds, @baseSeconds * (1 << min(failures, 30))) || ' seconds')`,
    );
    // One statement: 1 = directly assigned, 2 = direct member of a group in scope, 0 = neither.
    this.inScopeStmt = db.prepare<{ id: string }, { via: number }>(
      `SELECT CASE ${IN_SCOPE_CASES} ELSE 0 END AS via`,
    );
    // As inScopeStmt, plus 3 = linked to a store row (and not in scope).
    this.relevanceStmt = db.prepare<{ id: string }, { via: number }>(
      `SELECT CASE ${IN_SCOPE_CASES}
         WHEN EXISTS (SELECT 1 FROM users WHERE external_id = @id) THEN 3
         ELSE 0 END AS via`,
    );
    this.markHardDeletedStmt = db.prepare('UPDATE source_users SET hard_deleted = 1 WHERE entra_id = ?');
    this.tombstoneStmt = db.prepare(
      `INSERT INTO source_users (entra_id, attributes, hard_deleted) VALUES (?, '{}', 1)`,
    );
    this.appRolesStmt = db.prepare<
      [string, string],
      { appRoleId: string; value: string | null; displayName: string | null }
    >(
      `SELECT DISTINCT a.app_role_id AS appRoleId, r.value AS value, r.display_name AS displayName
       FROM assignments a LEFT JOIN app_roles r ON r.id = a.app_role_id
       WHERE (a.principal_type = 'User' AND a.principal_id = ?)
          OR (a.principal_type = 'Group' AND a.principal_id IN
              (SELECT group_id FROM group_members WHERE member_id = ? AND member_type = 'user'))
       ORDER BY a.app_role_id`,
    );
    this.unusableStmt = db.prepare<{ prefix: string }, { entra_id: string; failed_cycle: string | null }>(
      `SELECT entra_id, failed_cycle FROM pending_users
       WHERE failures > 0 AND substr(last_error, 1, length(@prefix)) = @prefix`,
    );
    this.mirroredStmt = db.prepare<[string], { n: number }>(
      'SELECT 1 AS n FROM source_users WHERE entra_id = ?',
    );
  }

  getUser(entraId: string): MirroredUser | null {
    const recent = this.recent?.get(entraId);
    if (recent) return { ...recent };
    const row = this.getUserStmt.get(entraId);
    if (!row) return null;
    return {
      entraId: row.entra_id,
      attributes: JSON.parse(row.attributes) as Record<string, AttributeValue>,
      softDeleted: row.soft_deleted === 1,
      hardDeleted: row.hard_deleted === 1,
      released: row.released === 1,
      generation: row.generation,
    };
  }

  /** `merge`: absent properties keep their value (return=minimal); otherwise the object replaces them. */
  upsertUser(
    entraId: string,
    attributes: Record<string, AttributeValue>,
    merge: boolean,
    generation: number,
  ): void {
    const previous = merge ? this.getUser(entraId) : null;
    const merged = previous ? { ...previous.attributes, ...attributes } : attributes;
    const row = this.upsertUserStmt.get({ id: entraId, attributes: JSON.stringify(merged), generation })!;
    this.recent?.set(entraId, {
      entraId,
      attributes: merged,
      softDeleted: false,
      hardDeleted: false,
      released: row.released === 1,
      generation: row.generation,
    });
  }

  /**
   * Runs `fn` (a batch of upserts and the planning of those users, inside one transaction) with the
   * users it upserts remembered as written. Cleared when `fn` ends, whether it commits or not.
   */
  withRecentWrites<T>(fn: () => T): T {
    if (this.recent) return fn();
    this.recent = new Map();
    this.recentScope = new Map();
    try {
      return fn();
    } finally {
      this.recent = null;
      this.recentScope = null;
    }
  }

  /** Whether Graph's data on this user was ever mirrored (and not forgotten since). */
  isMirrored(entraId: string): boolean {
    return this.recent?.has(entraId) || this.mirroredStmt.get(entraId) !== undefined;
  }

  /**
   * Whether a user matters to this application: in scope, or linked to a store row (a user that
   * left scope is still managed until it is released). Users that are neither need not be mirrored:
   * one that enters scope later is read then (see unmirroredInScope).
   */
  isRelevant(entraId: string): boolean {
    const { via } = this.relevanceStmt.get({ id: entraId })!;
    this.recentScope?.set(entraId, via === 1 || via === 2 ? via : 0);
    return via !== 0;
  }

  /** Every user in scope or linked, in id order: what a full round must read when it reads by id. */
  relevantUserIds(): string[] {
    return prepared(
      this.db,
      `SELECT principal_id AS id FROM assignments WHERE principal_type = 'User'
           UNION SELECT gm.member_id FROM group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
             WHERE gm.member_type = 'user'
           UNION SELECT external_id FROM users WHERE external_id IS NOT NULL
           ORDER BY 1`,
    )
      .pluck()
      .all() as string[];
  }

  /** How many users relevantUserIds() would list, counted up to `limit` + 1 at most. */
  relevantUserCount(limit: number): number {
    return prepared(
      this.db,
      `SELECT count(*) FROM (SELECT principal_id FROM assignments WHERE principal_type = 'User'
           UNION SELECT gm.member_id FROM group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
             WHERE gm.member_type = 'user'
           UNION SELECT external_id FROM users WHERE external_id IS NOT NULL
           LIMIT ?)`,
    )
      .pluck()
      .get(limit + 1) as number;
  }

  /**
   * Pending users in scope whose Graph data was never mirrored: they entered scope (a new assignment
   * or group membership) and must be read before they are planned. One whose data was unusable waits
   * for its retry.
   */
  unmirroredInScope(): string[] {
    return prepared(
      this.db,
      `SELECT p.entra_id FROM pending_users p
         WHERE NOT EXISTS (SELECT 1 FROM source_users s WHERE s.entra_id = p.entra_id)
           AND (p.retry_after IS NULL OR p.retry_after <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
           AND (EXISTS (SELECT 1 FROM assignments a WHERE a.principal_id = p.entra_id AND a.principal_type = 'User')
             OR EXISTS (SELECT 1 FROM group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
                        WHERE gm.member_id = p.entra_id AND gm.member_type = 'user'))
         ORDER BY p.entra_id`,
    )
      .pluck()
      .all() as string[];
  }

  /**
   * A user whose latest Graph data is unusable: its mirror keeps the last usable attributes (and
   * counts as listed in this round); only `accountEnabled: false`, a decisive fact, is taken.
   */
  keepUnusable(entraId: string, generation: number, disabled: boolean): void {
    this.recent?.delete(entraId);
    prepared(
      this.db,
      `UPDATE source_users SET generation = max(generation, @generation),
         attributes = CASE WHEN @disabled THEN json_set(attributes, '$.accountEnabled', json('false')) ELSE attributes END
         WHERE entra_id = @id`,
    ).run({ id: entraId, generation, disabled: disabled ? 1 : 0 });
  }

  /** Users whose data was unusable when last read, with the cycle that last failed them. */
  unusableUsers(): Map<string, string | null> {
    const rows = this.unusableStmt.all({ prefix: UNUSABLE_DATA });
    return new Map(rows.map((r) => [r.entra_id, r.failed_cycle]));
  }

  /** Users whose data was unusable and who are due for a retry: read again in full. */
  dueUnusable(cycleId: string, now = new Date().toISOString()): string[] {
    return prepared<{ prefix: string; cycle: string; now: string }, string>(
      this.db,
      `SELECT entra_id FROM pending_users WHERE failures > 0 AND substr(last_error, 1, length(@prefix)) = @prefix
         AND (failed_cycle IS NULL OR failed_cycle <> @cycle) AND (retry_after IS NULL OR retry_after <= @now)
         ORDER BY entra_id`,
    )
      .pluck()
      .all({ prefix: UNUSABLE_DATA, cycle: cycleId, now });
  }

  /**
   * Records that a malformed element from Graph was reported; false when it had been already. One
   * small sync_state row per distinct element, so a listing that repeats it every cycle is audited
   * once.
   */
  firstReport(elementKey: string): boolean {
    const key = `reported:${createHash('sha256').update(elementKey).digest('hex').slice(0, 32)}`;
    return (
      prepared(this.db, 'INSERT OR IGNORE INTO sync_state (key, value) VALUES (?, ?)').run(
        key,
        new Date().toISOString(),
      ).changes > 0
    );
  }

  /** Returns false for a user never mirrored and not linked: there is nothing to delete. */
  markHardDeleted(entraId: string, linked: boolean): boolean {
    this.recent?.delete(entraId);
    if (this.markHardDeletedStmt.run(entraId).changes > 0) return true;
    if (!linked) return false;
    this.tombstoneStmt.run(entraId);
    return true;
  }

  softDeleteUser(entraId: string, generation: number): boolean {
    this.recent?.delete(entraId);
    return this.softDeleteStmt.run(generation, entraId).changes > 0;
  }

  setReleased(entraId: string, released: boolean): void {
    this.recent?.delete(entraId);
    this.releaseStmt.run(released ? 1 : 0, entraId);
  }

  forgetUser(entraId: string): void {
    this.recent?.delete(entraId);
    this.recentScope?.delete(entraId);
    this.deleteUserStmt.run(entraId);
    this.deleteMembershipsOfStmt.run(entraId);
  }

  addMember(groupId: string, memberId: string, memberType: string, generation: number): void {
    this.addMemberStmt.run(groupId, memberId, memberType, generation);
  }

  removeMember(groupId: string, memberId: string): void {
    this.removeMemberStmt.run(groupId, memberId);
  }

  /** Drops a deleted group; its user members become pending (they may have lost scope). */
  removeGroup(groupId: string): void {
    for (const m of this.membersOfGroupStmt.all(groupId))
      if (m.member_type === 'user') this.markPending(m.member_id);
    this.removeGroupStmt.run(groupId);
  }

  /** After a complete full groups round: memberships it did not list are gone. */
  dropUnseenMemberships(generation: number): number {
    prepared(
      this.db,
      `INSERT INTO pending_users (entra_id)
         SELECT member_id FROM group_members WHERE generation < ? AND member_type = 'user'
         ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL`,
    ).run(generation);
    return prepared(this.db, 'DELETE FROM group_members WHERE generation < ?').run(generation).changes;
  }

  markPending(entraId: string): void {
    this.addPendingStmt.run(entraId);
  }

  clearPending(entraId: string): void {
    this.removePendingStmt.run({ id: entraId, prefix: UNUSABLE_DATA });
  }

  /** Graph's data on a user whose data was unusable is usable again (or the user was removed). */
  usableAgain(entraId: string): void {
    this.usableAgainStmt.run(entraId);
  }

  /**
   * Keeps a failed user pending (Entra's escrow): the cycle that failed does not try it again, and
   * later cycles retry it with spacing that doubles from `baseSeconds` up to `maxSeconds`.
   */
  failPending(
    entraId: string,
    cycleId: string,
    error: string,
    spacing: { baseSeconds: number; maxSeconds: number },
  ) {
    const first = new Date(
      Date.now() + Math.min(spacing.maxSeconds, spacing.baseSeconds) * 1000,
    ).toISOString();
    this.failPendingStmt.run({
      id: entraId,
      cycle: cycleId,
      error,
      first,
      prefix: UNUSABLE_DATA,
      ...spacing,
    });
  }

  /** Pending users after `afterId` that are due: not failed in `cycleId`, past their retry time. */
  pendingAfter(afterId: string, limit: number, cycleId: string, now = new Date().toISOString()): string[] {
    return this.pendingBatchStmt.all(afterId, cycleId, now, limit).map((r) => r.entra_id);
  }

  /** Users whose change failed and who wait for a retry. */
  failingUsers(
    limit = 100,
  ): { entraId: string; failures: number; lastError: string | null; retryAfter: string | null }[] {
    return (
      prepared(
        this.db,
        `SELECT entra_id, failures, last_error, retry_after FROM pending_users WHERE failures > 0
           ORDER BY retry_after LIMIT ?`,
      ).all(limit) as {
        entra_id: string;
        failures: number;
        last_error: string | null;
        retry_after: string | null;
      }[]
    ).map((r) => ({
      entraId: r.entra_id,
      failures: r.failures,
      lastError: r.last_error,
      retryAfter: r.retry_after,
    }));
  }

  failingCount(): number {
    return (
      prepared(this.db, 'SELECT count(*) AS n FROM pending_users WHERE failures > 0').get() as { n: number }
    ).n;
  }

  /** `entrasync retry`: failed users become due in the next cycle. */
  retryFailed(entraId?: string): number {
    const sql = `UPDATE pending_users SET retry_after = NULL, failed_cycle = NULL WHERE failures > 0${entraId ? ' AND entra_id = ?' : ''}`;
    return prepared(this.db, sql).run(...(entraId ? [entraId] : [])).changes;
  }

  pendingCount(): number {
    return (prepared(this.db, 'SELECT count(*) AS n FROM pending_users').get() as { n: number }).n;
  }

  /** Direct assignment, or direct membership of a group in scope. */
  isInScope(entraId: string): { inScope: boolean; via: 'assignment' | 'group' | null } {
    const via = this.recentScope?.get(entraId) ?? this.inScopeStmt.get({ id: entraId })!.via;
    this.recentScope?.set(entraId, via);
    if (via === 1) return { inScope: true, via: 'assignment' };
    if (via === 2) return { inScope: true, via: 'group' };
    return { inScope: false, via: null };
  }

  /** The app's role definitions, as last read from its service principal. */
  setAppRoles(roles: { id: string; value: string | null; displayName: string | null }[]): void {
    this.db.exec('DELETE FROM app_roles');
    const stmt = prepared(this.db, 'INSERT INTO app_roles (id, value, display_name) VALUES (?, ?, ?)');
    for (const r of roles) stmt.run(r.id, r.value, r.displayName);
  }

  /** A user's app-role assignments: direct ones, and those of assigned groups it is a direct member of. */
  appRolesOf(entraId: string): { appRoleId: string; value: string | null; displayName: string | null }[] {
    return this.appRolesStmt.all(entraId, entraId);
  }

  /**
   * Recomputes the groups whose direct members are in scope. Members of a group that entered or
   * left that set become pending.
   */
  refreshScopeGroups(expandNested: boolean): { entered: number; left: number } {
    const source = expandNested
      ? `WITH RECURSIVE reach(group_id) AS (
           SELECT principal_id FROM assignments WHERE principal_type = 'Group'
           UNION
           SELECT gm.member_id FROM group_members gm JOIN reach r ON gm.group_id = r.group_id WHERE gm.member_type = 'group'
         ) SELECT group_id FROM reach`
      : `SELECT principal_id AS group_id FROM assignments WHERE principal_type = 'Group'`;
    this.db.exec(`DROP TABLE IF EXISTS temp.next_scope_groups;
      CREATE TEMP TABLE next_scope_groups (group_id TEXT PRIMARY KEY) WITHOUT ROWID;
      INSERT OR IGNORE INTO next_scope_groups ${source};`);
    const changed = `SELECT group_id FROM (SELECT group_id FROM next_scope_groups EXCEPT SELECT group_id FROM scope_groups)
       UNION SELECT group_id FROM (SELECT group_id FROM scope_groups EXCEPT SELECT group_id FROM next_scope_groups)`;
    const entered = (
      prepared(
        this.db,
        'SELECT count(*) AS n FROM (SELECT group_id FROM next_scope_groups EXCEPT SELECT group_id FROM scope_groups)',
      ).get() as { n: number }
    ).n;
    const left = (
      prepared(
        this.db,
        'SELECT count(*) AS n FROM (SELECT group_id FROM scope_groups EXCEPT SELECT group_id FROM next_scope_groups)',
      ).get() as { n: number }
    ).n;
    this.db.exec(`
      INSERT INTO pending_users (entra_id)
        SELECT member_id FROM group_members WHERE member_type = 'user' AND group_id IN (${changed})
        ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL;
      DELETE FROM scope_groups;
      INSERT INTO scope_groups SELECT group_id FROM next_scope_groups;
      DROP TABLE temp.next_scope_groups;
    `);
    return { entered, left };
  }

  /** Whether the current assignment listing holds this user, or this group, itself. */
  isAssigned(principalId: string, principalType: 'User' | 'Group'): boolean {
    return (
      prepared(this.db, 'SELECT 1 FROM assignments WHERE principal_id = ? AND principal_type = ?').get(
        principalId,
        principalType,
      ) !== undefined
    );
  }

  isScopeGroup(groupId: string): boolean {
    return prepared(this.db, 'SELECT 1 FROM scope_groups WHERE group_id = ?').get(groupId) !== undefined;
  }

  /** Linked store rows whose Entra user the last full round did not list (or never listed). */
  unseenLinkedUsers(generation: number, afterId: string, limit: number): string[] {
    return (
      prepared(
        this.db,
        `SELECT u.external_id AS id FROM users u LEFT JOIN source_users s ON s.entra_id = u.external_id
           WHERE u.external_id IS NOT NULL AND u.external_id > ? AND (s.entra_id IS NULL OR s.generation < ?)
           ORDER BY u.external_id LIMIT ?`,
      ).all(afterId, generation, limit) as { id: string }[]
    ).map((r) => r.id);
  }

  /** Mirror rows of users the full round did not list and that no store row links to. */
  forgetUnseenUnlinked(generation: number): number {
    this.recent?.clear();
    return prepared(
      this.db,
      `DELETE FROM source_users WHERE generation < ?
         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.external_id = source_users.entra_id)`,
    ).run(generation).changes;
  }
}
