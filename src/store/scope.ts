import type { Db } from './db.js';
import { prepared } from './statements.js';

/** Users in scope: directly assigned, or direct members of a group in scope. */
const IN_SCOPE_USERS = `SELECT principal_id AS id FROM assignments WHERE principal_type = 'User'
  UNION SELECT gm.member_id FROM entra_group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
    WHERE gm.member_type = 'user'`;
/** Users that matter to the application: in scope, or linked to a store row (until released). */
const RELEVANT_USERS = `${IN_SCOPE_USERS} UNION SELECT external_id FROM users WHERE external_id IS NOT NULL`;

/** See Scope.noteLeftGroup; `@g` the group, `@m` the user. */
const LEFT_GROUP_SQL = `UPDATE source_users SET left_group = @g WHERE entra_id = @m
  AND EXISTS (SELECT 1 FROM scope_groups WHERE group_id = @g)
  AND NOT EXISTS (SELECT 1 FROM assignments WHERE principal_id = @m AND principal_type = 'User')
  AND NOT EXISTS (SELECT 1 FROM entra_group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
                  WHERE gm.member_id = @m AND gm.member_type = 'user')`;

export type ScopeVia = 'assignment' | 'group' | null;

/** A group member as Graph lists it. */
export interface Membership {
  groupId: string;
  memberId: string;
  memberType: string;
}

/**
 * Scope as Graph last listed it: group memberships, the application's assignments (with their app
 * roles), the groups whose direct members are in scope, and the app's role definitions. Scope
 * changes never touch a user object in Graph, so they must be kept here.
 */
export class Scope {
  constructor(private readonly db: Db) {}

  /** Direct assignment, or direct membership of a group in scope. */
  via(entraId: string): ScopeVia {
    const via = prepared<{ id: string }, number>(
      this.db,
      `SELECT CASE
         WHEN EXISTS (SELECT 1 FROM assignments WHERE principal_id = @id AND principal_type = 'User') THEN 1
         WHEN EXISTS (SELECT 1 FROM entra_group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
                      WHERE gm.member_id = @id AND gm.member_type = 'user') THEN 2
         ELSE 0 END`,
    )
      .pluck()
      .get({ id: entraId })!;
    return via === 1 ? 'assignment' : via === 2 ? 'group' : null;
  }

  /** Every user in scope or linked, in id order: what a full round must read when it reads by id. */
  relevantUserIds(): string[] {
    return prepared<[], string>(this.db, `${RELEVANT_USERS} ORDER BY 1`).pluck().all();
  }

  /** How many users relevantUserIds() would list, counted up to `limit` + 1 at most. */
  relevantUserCount(limit: number): number {
    return prepared<[number], number>(this.db, `SELECT count(*) FROM (${RELEVANT_USERS} LIMIT ?)`)
      .pluck()
      .get(limit + 1)!;
  }

  /**
   * Pending users in scope whose Graph data was never mirrored: they entered scope (a new assignment
   * or group membership) and must be read before they are planned. One whose data was unusable waits
   * for its retry.
   */
  unmirroredInScope(): string[] {
    return prepared<[], string>(
      this.db,
      `SELECT p.entra_id FROM pending_users p JOIN (${IN_SCOPE_USERS}) s ON s.id = p.entra_id
         WHERE NOT EXISTS (SELECT 1 FROM source_users m WHERE m.entra_id = p.entra_id)
           AND (p.retry_after IS NULL OR p.retry_after <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         ORDER BY p.entra_id`,
    )
      .pluck()
      .all();
  }

  addMember(m: Membership, generation: number): void {
    prepared(
      this.db,
      `INSERT INTO entra_group_members (group_id, member_id, member_type, generation) VALUES (?, ?, ?, ?)
       ON CONFLICT (group_id, member_id) DO UPDATE SET generation = max(generation, excluded.generation)`,
    ).run(m.groupId, m.memberId, m.memberType, generation);
  }

  removeMember(groupId: string, memberId: string): void {
    prepared(this.db, 'DELETE FROM entra_group_members WHERE group_id = ? AND member_id = ?').run(
      groupId,
      memberId,
    );
    this.noteLeftGroup(groupId, memberId);
  }

  /** Drops a deleted group; its user members become pending (they may have lost scope). */
  removeGroup(groupId: string): void {
    prepared(
      this.db,
      `INSERT INTO pending_users (entra_id)
         SELECT member_id FROM entra_group_members WHERE group_id = ? AND member_type = 'user'
         ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL`,
    ).run(groupId);
    const members = prepared<[string], string>(
      this.db,
      `SELECT member_id FROM entra_group_members WHERE group_id = ? AND member_type = 'user'`,
    )
      .pluck()
      .all(groupId);
    prepared(this.db, 'DELETE FROM entra_group_members WHERE group_id = ?').run(groupId);
    for (const m of members) this.noteLeftGroup(groupId, m);
  }

  /**
   * After a membership went: when the group gave scope and nothing else does now, the mirror keeps
   * which group the user left, so its disable can say so (source_users.left_group).
   */
  private noteLeftGroup(groupId: string, memberId: string): void {
    prepared(this.db, LEFT_GROUP_SQL).run({ g: groupId, m: memberId });
  }

  /** After a complete full groups round: memberships it did not list are gone. */
  dropUnseenMemberships(generation: number): number {
    prepared(
      this.db,
      `INSERT INTO pending_users (entra_id)
         SELECT member_id FROM entra_group_members WHERE generation < ? AND member_type = 'user'
         ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL`,
    ).run(generation);
    return prepared(this.db, 'DELETE FROM entra_group_members WHERE generation < ?').run(generation).changes;
  }

  /** The app's role definitions, as last read from its service principal. */
  setAppRoles(roles: { id: string; value: string | null; displayName: string | null }[]): void {
    prepared(this.db, 'DELETE FROM app_roles').run();
    const insert = prepared(this.db, 'INSERT INTO app_roles (id, value, display_name) VALUES (?, ?, ?)');
    for (const r of roles) insert.run(r.id, r.value, r.displayName);
  }

  /** A user's app-role assignments: direct ones, and those of assigned groups it is a direct member of. */
  appRolesOf(entraId: string): { appRoleId: string; value: string | null; displayName: string | null }[] {
    return prepared<
      [string, string],
      { appRoleId: string; value: string | null; displayName: string | null }
    >(
      this.db,
      `SELECT DISTINCT a.app_role_id AS appRoleId, r.value AS value, r.display_name AS displayName
       FROM assignments a LEFT JOIN app_roles r ON r.id = a.app_role_id
       WHERE (a.principal_type = 'User' AND a.principal_id = ?)
          OR (a.principal_type = 'Group' AND a.principal_id IN
              (SELECT group_id FROM entra_group_members WHERE member_id = ? AND member_type = 'user'))
       ORDER BY a.app_role_id`,
    ).all(entraId, entraId);
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
           SELECT gm.member_id FROM entra_group_members gm JOIN reach r ON gm.group_id = r.group_id WHERE gm.member_type = 'group'
         ) SELECT group_id FROM reach`
      : `SELECT principal_id AS group_id FROM assignments WHERE principal_type = 'Group'`;
    this.db.exec(`DROP TABLE IF EXISTS temp.next_scope_groups;
      CREATE TEMP TABLE next_scope_groups (group_id TEXT PRIMARY KEY) WITHOUT ROWID;
      INSERT OR IGNORE INTO next_scope_groups ${source};`);
    const enteredSql = 'SELECT group_id FROM next_scope_groups EXCEPT SELECT group_id FROM scope_groups';
    const leftSql = 'SELECT group_id FROM scope_groups EXCEPT SELECT group_id FROM next_scope_groups';
    const count = (sql: string) =>
      prepared<[], number>(this.db, `SELECT count(*) FROM (${sql})`).pluck().get()!;
    const entered = count(enteredSql);
    const left = count(leftSql);
    this.db.exec(`
      INSERT INTO pending_users (entra_id)
        SELECT member_id FROM entra_group_members WHERE member_type = 'user'
          AND group_id IN (SELECT group_id FROM (${enteredSql}) UNION SELECT group_id FROM (${leftSql}))
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
}
