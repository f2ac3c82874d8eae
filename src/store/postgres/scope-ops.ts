/** Scope on PostgreSQL: group memberships, the assignment listing, the groups in scope. */
import type pg from 'pg';
import type { AppRole, GroupWrite, ListedAssignment } from '../interface.js';
import type { Membership } from '../scope.js';
import { markGroupsMembers, markPlan, markUnseen, removeSources, upsertSources } from './groups.js';
import type { PostgresListing } from './listing.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Users in scope: directly assigned, or direct members of a group in scope. */
const inScopeUsers = (
  s: string,
) => `SELECT principal_id AS id FROM "${s}".assignments WHERE principal_type = 'User'
  UNION SELECT gm.member_id FROM "${s}".entra_group_members gm JOIN "${s}".scope_groups sg ON sg.group_id = gm.group_id
    WHERE gm.member_type = 'user'`;
/** Users that matter to the application: in scope, or linked to a store row (until released). */
export const relevantUsers = (s: string) =>
  `${inScopeUsers(s)} UNION SELECT external_id FROM "${s}".users WHERE external_id IS NOT NULL`;

/** New facts make a pending (even a failing) user due at once. */
const markPending = (s: string, select: string) =>
  `INSERT INTO "${s}".pending_users (entra_id) ${select} ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL`;

export async function unmirroredInScope(db: Queryable, s: string): Promise<string[]> {
  const { rows } = await db.query<{ entra_id: string }>(
    `SELECT p.entra_id FROM "${s}".pending_users p JOIN (${inScopeUsers(s)}) i ON i.id = p.entra_id
       WHERE NOT EXISTS (SELECT 1 FROM "${s}".source_users m WHERE m.entra_id = p.entra_id)
         AND (p.retry_after IS NULL OR p.retry_after <= $1)
       ORDER BY p.entra_id`,
    [new Date().toISOString()],
  );
  return rows.map((r) => r.entra_id);
}

/**
 * After memberships went: a user whose group gave scope, and whom nothing else gives scope now,
 * keeps which group it left in the mirror (source_users.left_group), so its disable can say so.
 */
async function noteLeftGroups(
  db: Queryable,
  s: string,
  left: readonly { groupId: string; memberId: string }[],
): Promise<void> {
  if (left.length === 0) return;
  await db.query(
    `UPDATE "${s}".source_users su SET left_group = v.g FROM unnest($1::text[], $2::text[]) AS v(g, m)
     WHERE su.entra_id = v.m
       AND EXISTS (SELECT 1 FROM "${s}".scope_groups WHERE group_id = v.g)
       AND NOT EXISTS (SELECT 1 FROM "${s}".assignments WHERE principal_id = v.m AND principal_type = 'User')
       AND NOT EXISTS (SELECT 1 FROM "${s}".entra_group_members gm JOIN "${s}".scope_groups sg ON sg.group_id = gm.group_id
                       WHERE gm.member_id = v.m AND gm.member_type = 'user')`,
    [left.map((x) => x.groupId), left.map((x) => x.memberId)],
  );
}

/** A groups/delta page, in order: consecutive writes of one kind go as one statement. */
export async function applyGroupPage(
  db: Queryable,
  s: string,
  writes: readonly GroupWrite[],
  generation: number,
): Promise<void> {
  for (let i = 0; i < writes.length;) {
    const op = writes[i]!.op;
    let j = i;
    while (j < writes.length && writes[j]!.op === op) j++;
    const run = writes.slice(i, j);
    i = j;
    if (op === 'groupAttributes') {
      await upsertSources(
        db,
        s,
        run.filter((w) => w.op === 'groupAttributes'),
        generation,
      );
      continue;
    }
    if (op === 'add') {
      // One statement may not touch a row twice: the last listing of a membership wins.
      const byKey = new Map<string, Membership>();
      for (const w of run)
        if (w.op === 'add') byKey.set(`${w.membership.groupId}/${w.membership.memberId}`, w.membership);
      const m = [...byKey.values()];
      await db.query(
        `INSERT INTO "${s}".entra_group_members AS g (group_id, member_id, member_type, generation)
         SELECT g, m, t, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS v(g, m, t)
         ON CONFLICT (group_id, member_id) DO UPDATE SET generation = greatest(g.generation, excluded.generation)`,
        [m.map((x) => x.groupId), m.map((x) => x.memberId), m.map((x) => x.memberType), generation],
      );
      await pendingMembers(db, s, m);
      await markGroupsMembers(
        db,
        s,
        m.map((x) => x.groupId),
      );
    } else if (op === 'remove') {
      const m = run.filter((w): w is Extract<GroupWrite, { op: 'remove' }> => w.op === 'remove');
      await db.query(
        `DELETE FROM "${s}".entra_group_members g USING unnest($1::text[], $2::text[]) AS v(g, m)
         WHERE g.group_id = v.g AND g.member_id = v.m`,
        [m.map((x) => x.groupId), m.map((x) => x.memberId)],
      );
      await noteLeftGroups(db, s, m);
      await pendingMembers(db, s, m);
      await markGroupsMembers(
        db,
        s,
        m.map((x) => x.groupId),
      );
    } else {
      const groups = run.map((w) => (w.op === 'removeGroup' ? w.groupId : ''));
      await db.query(
        markPending(
          s,
          `SELECT DISTINCT member_id FROM "${s}".entra_group_members WHERE group_id = ANY($1::text[]) AND member_type = 'user'`,
        ),
        [groups],
      );
      const { rows: members } = await db.query<{ groupId: string; memberId: string }>(
        `DELETE FROM "${s}".entra_group_members WHERE group_id = ANY($1::text[])
         RETURNING group_id AS "groupId", member_id AS "memberId"`,
        [groups],
      );
      await noteLeftGroups(db, s, members);
      await removeSources(db, s, groups);
    }
  }
}

async function pendingMembers(
  db: Queryable,
  s: string,
  members: readonly { memberId: string; memberType: string }[],
) {
  const users = [...new Set(members.filter((m) => m.memberType === 'user').map((m) => m.memberId))];
  if (users.length > 0) await db.query(markPending(s, 'SELECT unnest($1::text[])'), [users]);
}

export async function dropUnseenMemberships(db: Queryable, s: string, generation: number): Promise<number> {
  await markUnseen(db, s, generation);
  await db.query(
    markPending(
      s,
      `SELECT DISTINCT member_id FROM "${s}".entra_group_members WHERE generation < $1 AND member_type = 'user'`,
    ),
    [generation],
  );
  const { rowCount } = await db.query(`DELETE FROM "${s}".entra_group_members WHERE generation < $1`, [
    generation,
  ]);
  return rowCount ?? 0;
}

export async function addToListing(
  db: Queryable,
  s: string,
  items: readonly ListedAssignment[],
): Promise<void> {
  if (items.length === 0) return;
  await db.query(
    `INSERT INTO "${s}".assignments_listing (principal_id, principal_type, app_role_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
    [items.map((a) => a.principalId), items.map((a) => a.principalType), items.map((a) => a.appRoleId)],
  );
}

/**
 * Swaps the listing in, unless its digest is the one applied last: the differences found in SQL, their users (and the members of their
 * groups) made pending; then the app roles and the groups in scope. Members of a group that
 * entered or left scope become pending too.
 */
export async function commitListing(
  db: Queryable,
  s: string,
  listing: PostgresListing,
  appRoles: AppRole[] | null,
  expandNested: boolean,
): Promise<{
  added: number;
  removed: number;
  unchanged: boolean;
  groupsEntered: number;
  groupsLeft: number;
}> {
  const added = `SELECT principal_id, principal_type, app_role_id FROM "${s}".assignments_listing
    EXCEPT SELECT principal_id, principal_type, app_role_id FROM "${s}".assignments`;
  const removed = `SELECT principal_id, principal_type, app_role_id FROM "${s}".assignments
    EXCEPT SELECT principal_id, principal_type, app_role_id FROM "${s}".assignments_listing`;
  const saved = await db.query<{ value: string }>(
    `SELECT value FROM "${s}".sync_state WHERE key = 'assignments_digest'`,
  );
  const digest = await listing.load(db, s, saved.rows[0]?.value ?? null);
  const changes =
    digest === null
      ? { added: 0, removed: 0 }
      : (
          await db.query<{ added: number; removed: number }>(
            `SELECT (SELECT count(*) FROM (${added}) a)::int AS added, (SELECT count(*) FROM (${removed}) r)::int AS removed`,
          )
        ).rows[0]!;
  if (changes.added + changes.removed > 0) {
    const changed = `SELECT principal_id, principal_type FROM (${added}) a UNION SELECT principal_id, principal_type FROM (${removed}) r`;
    await db.query(
      markPending(
        s,
        `SELECT principal_id FROM (${changed}) c WHERE principal_type = 'User'
         UNION SELECT gm.member_id FROM "${s}".entra_group_members gm JOIN (${changed}) c
           ON c.principal_type = 'Group' AND gm.group_id = c.principal_id WHERE gm.member_type = 'user'`,
      ),
    );
    await db.query(
      markPlan(s, `SELECT DISTINCT principal_id, 1 FROM (${changed}) c WHERE principal_type = 'Group'`),
    );
    await db.query(`DELETE FROM "${s}".assignments a WHERE NOT EXISTS (SELECT 1 FROM "${s}".assignments_listing l
      WHERE l.principal_id = a.principal_id AND l.principal_type = a.principal_type AND l.app_role_id = a.app_role_id)`);
    await db.query(`INSERT INTO "${s}".assignments SELECT * FROM (${added}) a ON CONFLICT DO NOTHING`);
  }
  if (digest !== null) {
    await db.query(`DELETE FROM "${s}".assignments_listing`);
    await db.query(
      `INSERT INTO "${s}".sync_state (key, value) VALUES ('assignments_digest', $1)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [digest],
    );
  }
  if (appRoles) {
    await db.query(`DELETE FROM "${s}".app_roles`);
    await db.query(
      `INSERT INTO "${s}".app_roles (id, value, display_name) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`,
      [appRoles.map((r) => r.appRoleId), appRoles.map((r) => r.value), appRoles.map((r) => r.displayName)],
    );
  }
  const groups = await refreshScopeGroups(db, s, expandNested);
  return {
    ...changes,
    unchanged: changes.added + changes.removed === 0,
    groupsEntered: groups.entered,
    groupsLeft: groups.left,
  };
}

async function refreshScopeGroups(
  db: Queryable,
  s: string,
  expandNested: boolean,
): Promise<{ entered: number; left: number }> {
  const next = expandNested
    ? `WITH RECURSIVE reach(group_id) AS (
         SELECT principal_id FROM "${s}".assignments WHERE principal_type = 'Group'
         UNION
         SELECT gm.member_id FROM "${s}".entra_group_members gm JOIN reach r ON gm.group_id = r.group_id WHERE gm.member_type = 'group'
       ) SELECT group_id FROM reach`
    : `SELECT DISTINCT principal_id AS group_id FROM "${s}".assignments WHERE principal_type = 'Group'`;
  const { rows } = await db.query<{ group_id: string; entered: boolean }>(
    `WITH next AS (${next})
     SELECT group_id, true AS entered FROM (SELECT group_id FROM next EXCEPT SELECT group_id FROM "${s}".scope_groups) e
     UNION ALL
     SELECT group_id, false FROM (SELECT group_id FROM "${s}".scope_groups EXCEPT SELECT group_id FROM next) l`,
  );
  if (rows.length === 0) return { entered: 0, left: 0 };
  const changed = rows.map((r) => r.group_id);
  await db.query(
    markPending(
      s,
      `SELECT DISTINCT member_id FROM "${s}".entra_group_members WHERE member_type = 'user' AND group_id = ANY($1::text[])`,
    ),
    [changed],
  );
  const entered = rows.filter((r) => r.entered).map((r) => r.group_id);
  const left = rows.filter((r) => !r.entered).map((r) => r.group_id);
  if (left.length > 0)
    await db.query(`DELETE FROM "${s}".scope_groups WHERE group_id = ANY($1::text[])`, [left]);
  if (entered.length > 0)
    await db.query(`INSERT INTO "${s}".scope_groups SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, [
      entered,
    ]);
  return { entered: entered.length, left: left.length };
}
