/**
 * Groups on PostgreSQL (the SQLite twin is src/store/groups.ts): a few statements per call, whatever
 * the number of groups or members, since round trips are the cost here.
 */
import type pg from 'pg';
import type { AuditDraft } from '../../plan/audit-entry.js';
import type { AttributeValue } from '../../source/types.js';
import {
  desiredMembersSql,
  GroupLinkConflict,
  groupAudit,
  markAncestorsSql,
  MEMBER_AUDIT,
  rejectedGroupAudit,
  toStoreGroup,
  type GroupRow,
  type SourceGroupRow,
} from '../group-sql.js';
import type {
  AppliedGroupAction,
  GroupActionWrite,
  GroupWrite,
  KnownGroup,
  StoreGroup,
} from '../interface.js';
import type { RetrySpacing } from '../pending.js';
import { newUserId } from '../users.js';
import { appendAudit } from './batch.js';
import { nocase } from './schema.js';
import { namedGroup } from '../named-user.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * `select` lists entra ids: their groups are planned again (a failing one at once) / recompute their
 * members (1; a failing group's plan still waits).
 */
export const markPlan = (s: string, select: string) =>
  `INSERT INTO "${s}".pending_groups (entra_id, plan) ${select}
   ON CONFLICT (entra_id) DO UPDATE SET plan = 1, retry_after = NULL`;
export const markMembers = (s: string, select: string) =>
  `INSERT INTO "${s}".pending_groups (entra_id, members) ${select} ON CONFLICT (entra_id) DO UPDATE SET members = 1`;

/** groupAttributes writes of a page: the mirror upserted, changed groups planned again (one statement). */
export async function upsertSources(
  db: Queryable,
  s: string,
  writes: readonly Extract<GroupWrite, { op: 'groupAttributes' }>[],
  generation: number,
): Promise<void> {
  // One statement may not touch a row twice: the last listing of a group wins.
  const last = [...new Map(writes.map((w) => [w.groupId, w])).values()];
  await db.query(
    `WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, name, attrs)),
     same AS (SELECT sg.entra_id FROM "${s}".source_groups sg JOIN v ON v.id = sg.entra_id
              WHERE sg.removed = 0 AND sg.display_name IS NOT DISTINCT FROM v.name AND sg.attributes = v.attrs),
     up AS (INSERT INTO "${s}".source_groups AS sg (entra_id, display_name, attributes, removed, generation)
            SELECT id, name, attrs, 0, $4 FROM v
            ON CONFLICT (entra_id) DO UPDATE SET display_name = excluded.display_name, attributes = excluded.attributes,
              removed = 0, generation = greatest(sg.generation, excluded.generation))
     ${markPlan(s, 'SELECT id, 1 FROM v WHERE id NOT IN (SELECT entra_id FROM same)')}`,
    [
      last.map((w) => w.groupId),
      last.map((w) => w.displayName),
      last.map((w) => JSON.stringify(w.attributes)),
      generation,
    ],
  );
}

/** Deleted groups: the mirror marks them removed, and they are planned again. */
export async function removeSources(db: Queryable, s: string, groupIds: readonly string[]): Promise<void> {
  await db.query(
    `WITH up AS (INSERT INTO "${s}".source_groups (entra_id, removed) SELECT DISTINCT unnest($1::text[]), 1
                 ON CONFLICT (entra_id) DO UPDATE SET removed = 1)
     ${markPlan(s, 'SELECT DISTINCT unnest($1::text[]), 1')}`,
    [groupIds],
  );
}

export async function markGroupsMembers(
  db: Queryable,
  s: string,
  groupIds: readonly string[],
): Promise<void> {
  if (groupIds.length > 0)
    await db.query(markMembers(s, 'SELECT DISTINCT unnest($1::text[]), 1'), [groupIds]);
}

/** Users just linked (one statement per batch): the groups that list them directly recompute. */
export async function markGroupsOfUsers(
  db: Queryable,
  s: string,
  entraIds: readonly string[],
): Promise<void> {
  if (entraIds.length === 0) return;
  await db.query(
    markMembers(
      s,
      `SELECT DISTINCT group_id, 1 FROM "${s}".entra_group_members
       WHERE member_id = ANY($1::text[]) AND member_type = 'user'`,
    ),
    [entraIds],
  );
}

/** Before a full round's unseen memberships go: their groups recompute; unseen groups are removed. */
export async function markUnseen(db: Queryable, s: string, generation: number): Promise<void> {
  await db.query(
    markMembers(s, `SELECT DISTINCT group_id, 1 FROM "${s}".entra_group_members WHERE generation < $1`),
    [generation],
  );
  await db.query(
    `WITH gone AS (UPDATE "${s}".source_groups SET removed = 1 WHERE generation < $1 AND removed = 0 RETURNING entra_id)
     ${markPlan(s, 'SELECT entra_id, 1 FROM gone')}`,
    [generation],
  );
}

export async function markAllForPlan(db: Queryable, s: string): Promise<void> {
  await db.query(
    `INSERT INTO "${s}".pending_groups (entra_id, plan, members) SELECT entra_id, 1, 1 FROM "${s}".source_groups
     ON CONFLICT (entra_id) DO UPDATE SET plan = 1, members = 1, retry_after = NULL`,
  );
}

export async function knownGroups(
  db: Queryable,
  s: string,
  entraIds: readonly string[],
): Promise<Map<string, KnownGroup>> {
  const ids = [...new Set(entraIds)];
  const { rows } = await db.query<
    { key: string; assigned: boolean } & Partial<SourceGroupRow> & {
        g_id: string | null;
        g_external_id: string | null;
        g_display_name: string;
        g_scim: string;
        g_created_at: string;
        g_updated_at: string;
      }
  >(
    `SELECT k.id AS key, sg.entra_id, sg.display_name, sg.attributes, sg.removed,
       EXISTS (SELECT 1 FROM "${s}".assignments a WHERE a.principal_id = k.id AND a.principal_type = 'Group') AS assigned,
       g.id AS g_id, g.external_id AS g_external_id, g.display_name AS g_display_name, g.scim AS g_scim,
       g.created_at AS g_created_at, g.updated_at AS g_updated_at
     FROM unnest($1::text[]) AS k(id)
     LEFT JOIN "${s}".source_groups sg ON sg.entra_id = k.id
     LEFT JOIN "${s}".groups g ON g.external_id = k.id`,
    [ids],
  );
  const known = new Map<string, KnownGroup>();
  for (const r of rows)
    known.set(r.key, {
      entraId: r.key,
      source: r.entra_id
        ? {
            displayName: r.display_name ?? null,
            attributes: JSON.parse(r.attributes!) as Record<string, AttributeValue>,
            removed: r.removed === 1,
          }
        : null,
      assigned: r.assigned,
      linked: r.g_id
        ? toStoreGroup({
            id: r.g_id,
            external_id: r.g_external_id,
            display_name: r.g_display_name,
            scim: r.g_scim,
            created_at: r.g_created_at,
            updated_at: r.g_updated_at,
          })
        : null,
    });
  return known;
}

export async function duePlan(
  db: Queryable,
  s: string,
  afterId: string,
  limit: number,
): Promise<KnownGroup[]> {
  const { rows } = await db.query<{ entra_id: string }>(
    `SELECT entra_id FROM "${s}".pending_groups WHERE plan = 1 AND entra_id > $1
     AND (retry_after IS NULL OR retry_after <= $3) ORDER BY entra_id LIMIT $2`,
    [afterId, limit, new Date().toISOString()],
  );
  const known = await knownGroups(
    db,
    s,
    rows.map((r) => r.entra_id),
  );
  return rows.map((r) => known.get(r.entra_id)!);
}

export async function unlinkedByDisplayName(
  db: Queryable,
  s: string,
  names: readonly string[],
): Promise<Map<string, StoreGroup[]>> {
  const { rows } = await db.query<GroupRow & { key: string }>(
    `SELECT k.name AS key, g.* FROM unnest($1::text[]) AS k(name)
     JOIN "${s}".groups g ON ${nocase('g.display_name')} = ${nocase('k.name')} AND g.external_id IS NULL
     ORDER BY g.id`,
    [names],
  );
  const found = new Map<string, StoreGroup[]>(names.map((n) => [n, []]));
  for (const r of rows) found.get(r.key)!.push(toStoreGroup(r));
  return found;
}

/**
 * The actions in one savepoint, a few statements per kind of action; when the store refuses one,
 * each again in a savepoint of its own, so a bad group fails alone.
 */
export async function applyGroups(
  db: Queryable,
  s: string,
  cycleId: string,
  writes: readonly GroupActionWrite[],
  spacing: RetrySpacing,
): Promise<AppliedGroupAction[]> {
  await db.query('SAVEPOINT groups');
  try {
    const results = await writeGroups(db, s, cycleId, writes, spacing);
    await db.query('RELEASE groups');
    return results;
  } catch {
    await db.query('ROLLBACK TO groups; RELEASE groups');
  }
  const results: AppliedGroupAction[] = [];
  for (const w of writes) {
    await db.query('SAVEPOINT one_group');
    try {
      results.push(...(await writeGroups(db, s, cycleId, [w], spacing)));
      await db.query('RELEASE one_group');
    } catch (error) {
      await db.query('ROLLBACK TO one_group; RELEASE one_group');
      const groupId = 'groupId' in w ? w.groupId : null;
      const audit = rejectedGroupAudit(w, cycleId, error, groupId);
      await appendAudit(db, s, [audit]);
      await failGroups(
        db,
        s,
        [{ entraId: w.entraId, error: audit.reason ?? (error as Error).message }],
        spacing,
      );
      results.push({ entraId: w.entraId, outcome: 'failed', groupId, error: (error as Error).message });
    }
  }
  return results;
}

type RowWrite = Extract<GroupActionWrite, { kind: 'create' | 'update' | 'link' }>;

async function writeGroups(
  db: Queryable,
  s: string,
  cycleId: string,
  writes: readonly GroupActionWrite[],
  spacing: RetrySpacing,
): Promise<AppliedGroupAction[]> {
  const now = new Date().toISOString();
  const of = <K extends GroupActionWrite['kind']>(kind: K) =>
    writes.filter((w): w is GroupActionWrite & { kind: K } => w.kind === kind);
  const ids = new Map<GroupActionWrite, string | null>();
  const names = new Map<GroupActionWrite, string | null>();
  for (const w of writes) {
    ids.set(w, 'groupId' in w ? w.groupId : null);
    names.set(w, 'displayName' in w ? w.displayName : null);
  }
  const creates = of('create');
  for (const w of creates) ids.set(w, newUserId());
  if (creates.length > 0)
    await db.query(
      `INSERT INTO "${s}".groups (id, external_id, display_name, scim, created_at, updated_at)
       SELECT id, ext, n, sc, $5, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v(id, ext, n, sc)`,
      [creates.map((w) => ids.get(w)), creates.map((w) => w.entraId), ...rowColumns(creates), now],
    );
  const updates = of('update');
  if (updates.length > 0) {
    const { rows } = await db.query<{ id: string }>(
      `UPDATE "${s}".groups g SET display_name = v.n, scim = v.sc, updated_at = $4
       FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, n, sc) WHERE g.id = v.id RETURNING g.id`,
      [updates.map((w) => w.groupId), ...rowColumns(updates), now],
    );
    const done = new Set(rows.map((r) => r.id));
    const gone = updates.find((w) => !done.has(w.groupId));
    if (gone) throw new GroupLinkConflict(`local group ${gone.groupId} no longer exists`);
  }
  const links = of('link');
  if (links.length > 0) {
    const { rows } = await db.query<{ id: string }>(
      `UPDATE "${s}".groups g SET external_id = v.ext, display_name = v.n, scim = v.sc, updated_at = $5
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v(id, ext, n, sc)
       WHERE g.id = v.id AND g.external_id IS NULL RETURNING g.id`,
      [links.map((w) => w.groupId), links.map((w) => w.entraId), ...rowColumns(links), now],
    );
    const done = new Set(rows.map((r) => r.id));
    const refused = links.find((w) => !done.has(w.groupId));
    if (refused)
      throw new GroupLinkConflict(`local group ${refused.groupId} no longer exists or is linked already`);
  }
  const deletes = of('delete');
  if (deletes.length > 0) {
    // Their memberships go with them (ON DELETE CASCADE).
    const { rows } = await db.query<{ id: string; display_name: string }>(
      `DELETE FROM "${s}".groups WHERE id = ANY($1::text[]) RETURNING id, display_name`,
      [deletes.map((w) => w.groupId)],
    );
    const named = new Map(rows.map((r) => [r.id, r.display_name]));
    for (const w of deletes) names.set(w, named.get(w.groupId) ?? null);
  }
  const keeps = of('keep');
  if (keeps.length > 0) {
    const { rows } = await db.query<{ id: string; external_id: string }>(
      `SELECT id, external_id FROM "${s}".groups WHERE external_id = ANY($1::text[])`,
      [keeps.map((w) => w.entraId)],
    );
    const linked = new Map(rows.map((r) => [r.external_id, r.id]));
    for (const w of keeps) ids.set(w, linked.get(w.entraId) ?? null);
  }
  const audit: AuditDraft[] = [];
  for (const w of writes) if (w.audit) audit.push(groupAudit(w, w.audit, ids.get(w)!, names.get(w)!));
  await appendAudit(db, s, audit);
  await settlePlans(
    db,
    s,
    writes.filter((w): w is Exclude<GroupActionWrite, { kind: 'error' }> => w.kind !== 'error'),
  );
  await failGroups(
    db,
    s,
    writes.flatMap((w) =>
      w.kind === 'error'
        ? [{ entraId: w.entraId, error: w.audit.reason ?? w.audit.reasonCode ?? 'failed' }]
        : [],
    ),
    spacing,
  );
  return writes.map((w) => ({
    entraId: w.entraId,
    outcome: w.kind === 'error' ? 'failed' : 'applied',
    groupId: ids.get(w)!,
  }));
}

/**
 * Failed groups stay to plan, due again after spacing that doubles from `baseSeconds` up to
 * `maxSeconds` with each failure in a row (batch.ts's `fail` for users), in one statement.
 */
async function failGroups(
  db: Queryable,
  s: string,
  failed: readonly { entraId: string; error: string }[],
  spacing: RetrySpacing,
): Promise<void> {
  if (failed.length === 0) return;
  // One statement may not touch a row twice: the last failure of a group wins.
  const last = [...new Map(failed.map((f) => [f.entraId, f])).values()];
  const first = new Date(Date.now() + Math.min(spacing.maxSeconds, spacing.baseSeconds) * 1000).toISOString();
  await db.query(
    `INSERT INTO "${s}".pending_groups AS p (entra_id, plan, failures, last_error, retry_after)
     SELECT id, 1, 1, err, $3 FROM unnest($1::text[], $2::text[]) AS v(id, err)
     ON CONFLICT (entra_id) DO UPDATE SET plan = 1, failures = p.failures + 1, last_error = excluded.last_error,
       retry_after = to_char((now() + make_interval(secs => least($5::float8, $4::float8 * (2 ^ least(p.failures, 30)))))
         AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
    [last.map((f) => f.entraId), last.map((f) => f.error), first, spacing.baseSeconds, spacing.maxSeconds],
  );
}

export async function failingGroupCount(db: Queryable, s: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM "${s}".pending_groups WHERE failures > 0`,
  );
  return rows[0]!.n;
}

/** `entrasync retry`: failing groups (all, or the one named) are due in the next cycle. */
export async function retryFailedGroups(db: Queryable, s: string, group?: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE "${s}".pending_groups SET retry_after = NULL
     WHERE failures > 0 AND ($1::text IS NULL OR ${namedGroup(`"${s}".`, '$1::text', (c) => `${nocase(c)} = ${nocase('$1::text')}`)})`,
    [group ?? null],
  );
  return rowCount ?? 0;
}

const rowColumns = (writes: readonly RowWrite[]) => [
  writes.map((w) => w.displayName),
  writes.map((w) => JSON.stringify(w.resource)),
];

/** A group's failure state cleared (its change applied). */
const NOT_FAILING = 'failures = 0, last_error = NULL, retry_after = NULL';

/**
 * The verdicts (source_groups.in_scope) and the plan marks and failure states cleared, in one statement: created,
 * updated, linked groups and groups back in scope recompute their members; deleted ones leave.
 */
async function settlePlans(
  db: Queryable,
  s: string,
  writes: readonly Exclude<GroupActionWrite, { kind: 'error' }>[],
): Promise<void> {
  if (writes.length === 0) return;
  const last = [...new Map(writes.map((w) => [w.entraId, w])).values()];
  await db.query(
    `WITH v AS (SELECT * FROM unnest($1::text[], $2::int[], $3::text[]) AS v(id, in_scope, kind)),
     old AS (SELECT v.id, coalesce(sg.in_scope, 0) AS was FROM v LEFT JOIN "${s}".source_groups sg ON sg.entra_id = v.id),
     scoped AS (UPDATE "${s}".source_groups sg SET in_scope = v.in_scope FROM v WHERE sg.entra_id = v.id),
     gone AS (DELETE FROM "${s}".pending_groups p USING v WHERE p.entra_id = v.id AND v.kind = 'delete'),
     recompute AS (INSERT INTO "${s}".pending_groups (entra_id, members)
       SELECT v.id, 1 FROM v JOIN old ON old.id = v.id
       WHERE v.kind IN ('create', 'update', 'link') OR (v.kind = 'keep' AND v.in_scope = 1 AND old.was = 0)
       ON CONFLICT (entra_id) DO UPDATE SET plan = 0, members = 1, ${NOT_FAILING})
     , cleared AS (DELETE FROM "${s}".pending_groups p USING v JOIN old ON old.id = v.id
       WHERE p.entra_id = v.id AND v.kind = 'keep' AND NOT (v.in_scope = 1 AND old.was = 0) AND p.members = 0)
     UPDATE "${s}".pending_groups p SET plan = 0, ${NOT_FAILING} FROM v JOIN old ON old.id = v.id
       WHERE p.entra_id = v.id AND v.kind = 'keep' AND NOT (v.in_scope = 1 AND old.was = 0) AND p.members <> 0`,
    [
      last.map((w) => w.entraId),
      last.map((w) => (w.kind !== 'delete' && w.inScope ? 1 : 0)),
      last.map((w) => w.kind),
    ],
  );
}

/**
 * Recomputes the memberships of up to `limit` marked groups (see group-sql.ts): with nested groups,
 * one statement marks the ancestors; then one statement picks the batch, inserts desired EXCEPT
 * existing, deletes existing EXCEPT desired, audits both from RETURNING and clears the marks.
 */
export async function settleMemberships(
  db: Queryable,
  s: string,
  cycleId: string,
  options: { expandNested: boolean; limit: number },
): Promise<{ groups: number; added: number; removed: number }> {
  const t = `"${s}".`;
  if (options.expandNested) await db.query(markAncestorsSql(t));
  const reason = (kind: string, column: 'action' | 'code' | 'reason') =>
    `CASE ${kind} WHEN 'add' THEN '${MEMBER_AUDIT.add[column]}' ELSE '${MEMBER_AUDIT.remove[column]}' END`;
  const { rows } = await db.query<{ groups: number; added: number; removed: number }>(
    `WITH batch AS MATERIALIZED (
       SELECT p.entra_id, CASE WHEN sg.in_scope = 1 THEN g.id END AS group_id,
         NOT EXISTS (SELECT 1 FROM ${t}audit a WHERE a.group_id = g.id AND a.cycle_id = $1 AND a.action = 'create'
                     AND a.object_type = 'group') AS audited
       FROM ${t}pending_groups p LEFT JOIN ${t}groups g ON g.external_id = p.entra_id
         LEFT JOIN ${t}source_groups sg ON sg.entra_id = p.entra_id
       WHERE p.members >= 1 ORDER BY p.entra_id LIMIT $2),
     desired AS MATERIALIZED (${desiredMembersSql(t, 'batch', options.expandNested)}),
     existing AS MATERIALIZED (SELECT gm.group_id, gm.user_id FROM ${t}group_members gm JOIN batch b ON b.group_id = gm.group_id),
     added AS (INSERT INTO ${t}group_members (group_id, user_id)
       SELECT group_id, user_id FROM (SELECT * FROM desired EXCEPT SELECT * FROM existing) d
       ON CONFLICT DO NOTHING RETURNING group_id, user_id),
     removed AS (DELETE FROM ${t}group_members gm USING (SELECT * FROM existing EXCEPT SELECT * FROM desired) r
       WHERE gm.group_id = r.group_id AND gm.user_id = r.user_id RETURNING gm.group_id, gm.user_id),
     changes AS (SELECT 'add' AS kind, group_id, user_id FROM added UNION ALL SELECT 'remove', group_id, user_id FROM removed),
     audited AS (INSERT INTO ${t}audit (cycle_id, at, action, status, entra_id, user_id, user_name, modified, reason_code,
         reason, object_type, group_id, group_name)
       SELECT $1, $3, ${reason('c.kind', 'action')}, 'success', b.entra_id, u.id, u.user_name, '[]',
         ${reason('c.kind', 'code')}, ${reason('c.kind', 'reason')}, 'group', g.id, g.display_name
       FROM changes c JOIN batch b ON b.group_id = c.group_id AND b.audited
         JOIN ${t}groups g ON g.id = c.group_id JOIN ${t}users u ON u.id = c.user_id
       ORDER BY c.kind, g.display_name, g.id, u.user_name),
     done AS (DELETE FROM ${t}pending_groups p USING batch b WHERE p.entra_id = b.entra_id AND p.plan = 0),
     kept AS (UPDATE ${t}pending_groups p SET members = 0 FROM batch b WHERE p.entra_id = b.entra_id AND p.plan <> 0)
     SELECT (SELECT count(*) FROM batch)::int AS groups, (SELECT count(*) FROM added)::int AS added,
       (SELECT count(*) FROM removed)::int AS removed`,
    [cycleId, options.limit, new Date().toISOString()],
  );
  return rows[0]!;
}

export async function groupCounts(db: Queryable, s: string) {
  const { rows } = await db.query<{ total: number; linked: number; memberships: number }>(
    `SELECT (SELECT count(*) FROM "${s}".groups)::int AS total, (SELECT count(external_id) FROM "${s}".groups)::int AS linked,
       (SELECT count(*) FROM "${s}".group_members)::int AS memberships`,
  );
  return rows[0]!;
}

export async function findGroups(db: Queryable, s: string, key: string): Promise<StoreGroup[]> {
  const { rows } = await db.query<GroupRow>(
    `SELECT * FROM "${s}".groups WHERE id = $1 OR external_id = $1 OR ${nocase('display_name')} = ${nocase('$1')}
     ORDER BY display_name, id`,
    [key],
  );
  return rows.map(toStoreGroup);
}

export async function mirroredByDisplayName(db: Queryable, s: string, name: string): Promise<string[]> {
  const { rows } = await db.query<{ entra_id: string }>(
    `SELECT entra_id FROM "${s}".source_groups
     WHERE ${nocase('display_name')} = ${nocase('$1')} AND removed = 0 ORDER BY entra_id`,
    [name],
  );
  return rows.map((r) => r.entra_id);
}

export async function memberIds(db: Queryable, s: string, groupId: string): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    `SELECT user_id FROM "${s}".group_members WHERE group_id = $1 ORDER BY user_id`,
    [groupId],
  );
  return rows.map((r) => r.user_id);
}

export async function groupsPage(
  db: Queryable,
  s: string,
  after: [string, string] | null,
  limit: number,
): Promise<StoreGroup[]> {
  const { rows } = await db.query<GroupRow>(
    `SELECT * FROM "${s}".groups ${after ? 'WHERE (display_name, id) > ($2, $3)' : ''} ORDER BY display_name, id LIMIT $1`,
    after ? [limit, ...after] : [limit],
  );
  return rows.map(toStoreGroup);
}
