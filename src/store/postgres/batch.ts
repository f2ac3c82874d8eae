/**
 * The users pipeline on PostgreSQL: a batch's facts in one query, its matching look-ups in one
 * query, its writes in a handful of multi-row statements (round trips per user are the cost).
 */
import type pg from 'pg';
import { auditEntryOf, isStageable, rowIdOf, userNameOf, type AuditDraft } from '../../plan/audit-entry.js';
import type { ScimUserResource } from '../../mapping/index.js';
import type { PlannedAction, StoreUser, UserNameOwner } from '../../plan/types.js';
import type {
  ActionWrite,
  AppliedAction,
  KnownUser,
  LookupKey,
  MirrorWrite,
  PrefetchedLookup,
  WriteBatch,
} from '../interface.js';
import { auditColumns } from '../audit.js';
import { UNUSABLE_DATA, type RetrySpacing } from '../pending.js';
import { onceKey, reportKey } from '../state.js';
import { knownUserOf, type FactsRow } from '../known-users.js';
import { parseTargetPath, readPath } from '../../mapping/scim-path.js';
import {
  columns,
  LinkConflictError,
  newUserId,
  rejectedAction,
  toStoreUser,
  type UserRow,
} from '../users.js';
import { markGroupsOfUsers } from './groups.js';
import { nocase } from './schema.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

const WORK_EMAIL = 'emails[type eq "work"].value';

/** Whether a pending row is an unusable-data escrow ($prefix: UNUSABLE_DATA). */
const isUnusable = (p: string, prefix: string) =>
  `${p}.failures > 0 AND left(coalesce(${p}.last_error, ''), length(${prefix})) = ${prefix}`;

/**
 * A batch's facts, $1 the Entra ids, $2 UNUSABLE_DATA. Every look-up is a LATERAL subquery with
 * LIMIT 1, which the planner cannot turn into a hash join: left to choose, it scanned and hashed
 * whole tables (and EXISTS as a hashed subplan) for each batch, which made an initial sync quadratic
 * in the tenant's size. Exported for the test that checks its plan.
 */
export const knownUsersSql = (s: string) =>
  `SELECT k.id AS entra_key,
     CASE
       WHEN (SELECT 1 FROM "${s}".assignments WHERE principal_id = k.id AND principal_type = 'User' LIMIT 1) = 1 THEN 1
       WHEN (SELECT 1 FROM "${s}".entra_group_members gm JOIN "${s}".scope_groups sg ON sg.group_id = gm.group_id
             WHERE gm.member_id = k.id AND gm.member_type = 'user' LIMIT 1) = 1 THEN 2
       ELSE 0 END AS via,
     su.entra_id AS s_entra_id, su.attributes AS s_attributes, su.soft_deleted AS s_soft_deleted,
     su.hard_deleted AS s_hard_deleted, su.released AS s_released, su.generation AS s_generation,
     su.left_group AS s_left_group,
     (${isUnusable('p', '$2')}) AS p_unusable, p.failed_cycle AS p_failed_cycle,
     u.*
   FROM unnest($1::text[]) AS k(id)
   LEFT JOIN LATERAL (SELECT * FROM "${s}".source_users WHERE entra_id = k.id LIMIT 1) su ON true
   LEFT JOIN LATERAL (SELECT * FROM "${s}".users WHERE external_id = k.id LIMIT 1) u ON true
   LEFT JOIN LATERAL (SELECT * FROM "${s}".pending_users WHERE entra_id = k.id LIMIT 1) p ON true`;

export async function knownUsers(
  db: Queryable,
  s: string,
  ids: readonly string[],
  appRoles: boolean,
): Promise<Map<string, KnownUser>> {
  const unique = [...new Set(ids)];
  const { rows } = await db.query<FactsRow & { p_unusable: boolean | null; p_failed_cycle: string | null }>(
    knownUsersSql(s),
    [unique, UNUSABLE_DATA],
  );
  const known = new Map<string, KnownUser>();
  for (const row of rows) {
    const user = knownUserOf(row);
    if (appRoles) user.appRoles = [];
    if (row.p_unusable) user.unusableSince = row.p_failed_cycle;
    known.set(row.entra_key, user);
  }
  if (appRoles) {
    const roles = await db.query<{
      entra_id: string;
      appRoleId: string;
      value: string | null;
      displayName: string | null;
    }>(
      `SELECT DISTINCT k.id AS entra_id, a.app_role_id AS "appRoleId", r.value, r.display_name AS "displayName"
       FROM unnest($1::text[]) AS k(id)
       JOIN "${s}".assignments a ON (a.principal_type = 'User' AND a.principal_id = k.id)
          OR (a.principal_type = 'Group' AND a.principal_id IN
              (SELECT group_id FROM "${s}".entra_group_members WHERE member_id = k.id AND member_type = 'user'))
       LEFT JOIN "${s}".app_roles r ON r.id = a.app_role_id
       ORDER BY 1, 2`,
      [unique],
    );
    for (const { entra_id, ...role } of roles.rows) known.get(entra_id)?.appRoles?.push(role);
  }
  return known;
}

// Most values have no capital to fold: test first, and lower whole runs, not one letter at a time.
const fold = (value: string) =>
  /[A-Z]/.test(value) ? value.replace(/[A-Z]+/g, (run) => run.toLowerCase()) : value;
const keyOf = (k: LookupKey) =>
  `${k.target}\u0000${k.target === 'userName' || k.target === WORK_EMAIL ? fold(k.value) : k.value}`;

/**
 * The rows the keys ask about, in one query: every row holding one of the userNames (linked or
 * not), and the unlinked rows whose work email is one of the emails; any other target compares on
 * the (few) unlinked rows, fetched whole.
 */
export async function linkCandidates(
  db: Queryable,
  s: string,
  keys: readonly LookupKey[],
): Promise<PrefetchedLookup> {
  const names = [...new Set(keys.filter((k) => k.target === 'userName').map((k) => fold(k.value)))];
  const emails = [...new Set(keys.filter((k) => k.target === WORK_EMAIL).map((k) => fold(k.value)))];
  const others = keys.some((k) => k.target !== 'userName' && k.target !== WORK_EMAIL);
  const rows =
    keys.length === 0
      ? []
      : (
          await db.query<UserRow>(
            `SELECT * FROM "${s}".users WHERE ${nocase('user_name')} = ANY($1::text[])
               OR (external_id IS NULL AND ${nocase('email')} = ANY($2::text[]))
               OR ($3 AND external_id IS NULL)`,
            [names, emails, others],
          )
        ).rows.map(toStoreUser);
  const fetched = new Set(keys.map(keyOf));
  // Every plan of a batch asks: sets and maps keep a batch's look-ups linear in its size.
  const missing: LookupKey[] = [];
  const missingKeys = new Set<string>();
  const ask = (key: LookupKey) => {
    if (others && key.target !== 'userName' && key.target !== WORK_EMAIL) return true;
    const k = keyOf(key);
    if (fetched.has(k)) return true;
    if (!missingKeys.has(k)) {
      missingKeys.add(k);
      missing.push(key);
    }
    return false;
  };
  const owners = new Map<string, StoreUser>();
  const unlinkedByName = new Map<string, StoreUser[]>();
  const unlinkedByEmail = new Map<string, StoreUser[]>();
  const add = (map: Map<string, StoreUser[]>, key: string, row: StoreUser) => {
    const list = map.get(key);
    if (list) list.push(row);
    else map.set(key, [row]);
  };
  const unlinked = rows.filter((r) => r.externalId === null);
  for (const r of rows) if (!owners.has(fold(r.userName))) owners.set(fold(r.userName), r);
  for (const r of unlinked) {
    add(unlinkedByName, fold(r.userName), r);
    if (r.email !== null) add(unlinkedByEmail, fold(r.email), r);
  }
  return {
    missing,
    unlinkedBy(target: string, value: string): StoreUser[] {
      if (!ask({ target, value })) return [];
      if (target === 'userName') return [...(unlinkedByName.get(fold(value)) ?? [])];
      if (target === WORK_EMAIL) return [...(unlinkedByEmail.get(fold(value)) ?? [])];
      return unlinked.filter((r) => String(readTarget(r, target) ?? '') === value);
    },
    byUserName(userName: string): UserNameOwner | null {
      if (!ask({ target: 'userName', value: userName })) return null;
      return owners.get(fold(userName)) ?? null;
    },
  };
}

const readTarget = (row: StoreUser, target: string) => readPath(row.resource, parseTargetPath(target));

/** The batch, inside the caller's transaction: mirror writes, actions, audit, settlement, after-writes. */
export async function applyBatch(db: Queryable, s: string, batch: WriteBatch): Promise<AppliedAction[]> {
  await mirrorWrites(db, s, batch.mirror ?? [], batch.cycleId, batch.retry);
  const writes = batch.actions ?? [];
  let results: AppliedAction[];
  await db.query('SAVEPOINT actions');
  try {
    results = await writeActions(db, s, writes, batch.cycleId);
    await db.query('RELEASE actions');
  } catch {
    // One user's values were refused: each action again in a savepoint of its own.
    await db.query('ROLLBACK TO actions; RELEASE actions');
    results = [];
    for (const w of writes) results.push(await writeAlone(db, s, w, batch.cycleId));
  }
  const audit: AuditDraft[] = [...(batch.audit ?? [])];
  const failed: AppliedAction[] = [];
  const cleared: string[] = [];
  const forgotten: string[] = [];
  const linked: string[] = [];
  results.forEach((r, i) => {
    const entry = r.outcome === 'staged' ? null : auditEntryOf(batch.cycleId, r.action, r.userId);
    if (entry) audit.push(entry);
    if (r.outcome === 'failed') failed.push(r);
    else cleared.push(r.action.entraId);
    if (r.outcome === 'applied' && writes[i]!.forgetWhenApplied) forgotten.push(r.action.entraId);
    if (r.outcome === 'applied' && (r.action.kind === 'create' || r.action.kind === 'link'))
      linked.push(r.action.entraId);
  });
  // Users just linked become members of the groups that list them (group_members).
  await markGroupsOfUsers(db, s, linked);
  for (const r of failed)
    await fail(
      db,
      s,
      r.action.entraId,
      batch.cycleId,
      r.action.kind === 'error' ? r.action.reason : 'failed',
      batch.retry,
    );
  if (cleared.length > 0)
    await db.query(
      `DELETE FROM "${s}".pending_users p WHERE p.entra_id = ANY($1::text[]) AND NOT (${isUnusable('p', '$2')})`,
      [cleared, UNUSABLE_DATA],
    );
  if (forgotten.length > 0) {
    await db.query(`DELETE FROM "${s}".source_users WHERE entra_id = ANY($1::text[])`, [forgotten]);
    await db.query(`DELETE FROM "${s}".entra_group_members WHERE member_id = ANY($1::text[])`, [forgotten]);
  }
  await appendAudit(db, s, audit);
  await mirrorWrites(db, s, batch.after ?? [], batch.cycleId, batch.retry);
  return results;
}

export async function appendAudit(db: Queryable, s: string, entries: readonly AuditDraft[]): Promise<void> {
  if (entries.length === 0) return;
  const extra = entries.map(auditColumns);
  await db.query(
    `INSERT INTO "${s}".audit (cycle_id, at, action, status, entra_id, user_id, user_name, modified, reason, reason_code,
       object_type, group_id, group_name)
     SELECT c, $9, a, st, e, u, n, m, r, rc, ot, gi, gn
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $10::text[],
       $11::text[], $12::text[], $13::text[])
       AS v(c, a, st, e, u, n, m, r, rc, ot, gi, gn)`,
    [
      entries.map((e) => e.cycleId),
      entries.map((e) => e.action),
      entries.map((e) => e.status),
      entries.map((e) => e.entraId),
      entries.map((e) => e.userId),
      entries.map((e) => e.userName),
      entries.map((e) => JSON.stringify(e.modified)),
      entries.map((e) => e.reason),
      new Date().toISOString(),
      entries.map((e) => e.reasonCode),
      extra.map((e) => e.objectType),
      extra.map((e) => e.groupId),
      extra.map((e) => e.groupName),
    ],
  );
}

/**
 * Mirror writes in order. A user's writes keep their order; writes of different users do not
 * depend on each other, so each run in which no user appears twice is written as one statement per
 * kind of write.
 */
async function mirrorWrites(
  db: Queryable,
  s: string,
  writes: readonly MirrorWrite[],
  cycleId: string,
  retry: RetrySpacing,
): Promise<void> {
  let run: MirrorWrite[] = [];
  const seen = new Set<string>();
  const flush = async () => {
    if (run.length > 0) await mirrorRun(db, s, run, cycleId, retry);
    run = [];
    seen.clear();
  };
  for (const w of writes) {
    if (seen.has(w.entraId)) await flush();
    seen.add(w.entraId);
    run.push(w);
  }
  await flush();
}

async function mirrorRun(
  db: Queryable,
  s: string,
  run: readonly MirrorWrite[],
  cycleId: string,
  retry: RetrySpacing,
): Promise<void> {
  const of = <K extends MirrorWrite['op']>(op: K) =>
    run.filter((w): w is Extract<MirrorWrite, { op: K }> => w.op === op);
  const upserts = of('upsert');
  if (upserts.length > 0)
    await db.query(
      `INSERT INTO "${s}".source_users AS su (entra_id, attributes, soft_deleted, generation)
       SELECT id, attributes, 0, generation FROM unnest($1::text[], $2::text[], $3::int[]) AS v(id, attributes, generation)
       ON CONFLICT (entra_id) DO UPDATE SET attributes = excluded.attributes, soft_deleted = 0, hard_deleted = 0,
         generation = greatest(su.generation, excluded.generation)`,
      [
        upserts.map((w) => w.entraId),
        upserts.map((w) => JSON.stringify(w.attributes)),
        upserts.map((w) => w.generation),
      ],
    );
  const soft = of('softDelete');
  if (soft.length > 0)
    await db.query(
      `UPDATE "${s}".source_users su SET soft_deleted = 1, generation = greatest(su.generation, v.generation)
       FROM unnest($1::text[], $2::int[]) AS v(id, generation) WHERE su.entra_id = v.id`,
      [soft.map((w) => w.entraId), soft.map((w) => w.generation)],
    );
  const hard = of('hardDelete');
  if (hard.length > 0)
    await db.query(
      `INSERT INTO "${s}".source_users (entra_id, attributes, hard_deleted) SELECT id, '{}', 1 FROM unnest($1::text[]) AS v(id)
       ON CONFLICT (entra_id) DO UPDATE SET hard_deleted = 1`,
      [hard.map((w) => w.entraId)],
    );
  for (const w of of('keepUnusable'))
    await db.query(
      `UPDATE "${s}".source_users SET generation = greatest(generation, $2),
         attributes = CASE WHEN $3 THEN jsonb_set(attributes::jsonb, '{accountEnabled}', 'false')::text ELSE attributes END
       WHERE entra_id = $1`,
      [w.entraId, w.generation, w.disabled],
    );
  const usable = of('usableAgain');
  if (usable.length > 0)
    await db.query(`DELETE FROM "${s}".pending_users WHERE entra_id = ANY($1::text[])`, [
      usable.map((w) => w.entraId),
    ]);
  for (const w of of('fail')) await fail(db, s, w.entraId, cycleId, w.error, retry);
}

/** Keeps a failed user pending with spacing that doubles (see pending.ts, the SQLite twin). */
export async function fail(
  db: Queryable,
  s: string,
  entraId: string,
  cycleId: string,
  error: string,
  spacing: RetrySpacing,
): Promise<void> {
  const first = new Date(Date.now() + Math.min(spacing.maxSeconds, spacing.baseSeconds) * 1000).toISOString();
  await db.query(
    `INSERT INTO "${s}".pending_users AS p (entra_id, failed_cycle, failures, last_error, retry_after)
     VALUES ($1, $2, 1, $3, $4)
     ON CONFLICT (entra_id) DO UPDATE SET failed_cycle = $2, failures = p.failures + 1,
       last_error = CASE WHEN ${isUnusable('p', '$5')} AND left($3, length($5)) <> $5 THEN p.last_error ELSE $3 END,
       retry_after = to_char((now() + make_interval(secs => least($7::float8, $6::float8 * (2 ^ least(p.failures, 30)))))
         AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
    [entraId, cycleId, error, first, UNUSABLE_DATA, spacing.baseSeconds, spacing.maxSeconds],
  );
}

/** Skips audited the first time only (their `once` keys): the others become quiet ones. */
async function auditOnce(db: Queryable, s: string, results: AppliedAction[], at: number[]): Promise<void> {
  if (at.length === 0) return;
  const keyOf = (i: number) => {
    const a = results[i]!.action;
    return reportKey(onceKey(a.entraId, a.code));
  };
  const { rows } = await db.query<{ key: string }>(
    `INSERT INTO "${s}".sync_state (key, value) SELECT unnest($1::text[]), $2
     ON CONFLICT DO NOTHING RETURNING key`,
    [at.map(keyOf), new Date().toISOString()],
  );
  const first = new Set(rows.map((r) => r.key));
  for (const i of at) {
    const r = results[i]!;
    if (!first.has(keyOf(i)) && r.action.kind === 'skip') r.action = { ...r.action, quiet: true };
  }
}

/** Every action of the batch in a few statements; throws when the store refuses any of them. */
async function writeActions(
  db: Queryable,
  s: string,
  writes: readonly ActionWrite[],
  cycleId: string,
): Promise<AppliedAction[]> {
  const results: AppliedAction[] = [];
  const creates: { id: string; action: Extract<PlannedAction, { kind: 'create' }> }[] = [];
  const updates: { row: StoreUser; resource: ScimUserResource }[] = [];
  const deletes: string[] = [];
  const staged: { action: PlannedAction & { kind: 'disable' | 'delete' } }[] = [];
  const released: { entraId: string; released: boolean }[] = [];
  const unstaged: string[] = [];
  const once: number[] = [];
  for (const { action, stage } of writes) {
    if (stage && isStageable(action)) {
      staged.push({ action });
      results.push({ action, outcome: 'staged', userId: rowIdOf(action) });
      continue;
    }
    let userId = rowIdOf(action);
    switch (action.kind) {
      case 'create':
        userId = newUserId();
        creates.push({ id: userId, action });
        break;
      case 'link':
        await link(db, s, action);
        break;
      case 'update':
      case 'disable':
      case 'enable':
        updates.push({ row: action.row, resource: action.resource });
        break;
      case 'delete':
        deletes.push(action.row.id);
        break;
    }
    if (action.release !== undefined) released.push({ entraId: action.entraId, released: action.release });
    if (action.kind !== 'error') unstaged.push(action.entraId);
    if (action.kind === 'skip' && action.once && !action.quiet) once.push(results.length);
    results.push({ action, outcome: action.kind === 'error' ? 'failed' : 'applied', userId });
  }
  await auditOnce(db, s, results, once);
  const now = new Date().toISOString();
  if (creates.length > 0) {
    await db.query(
      `INSERT INTO "${s}".users (id, external_id, user_name, display_name, email, active, scim, created_at, updated_at)
       SELECT id, ext, n, d, e, a, sc, $8, $8
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[]) AS v(id, ext, n, d, e, a, sc)`,
      [
        creates.map((c) => c.id),
        creates.map((c) => c.action.entraId),
        ...columnArrays(creates.map((c) => c.action.resource)),
        now,
      ],
    );
  }
  if (updates.length > 0) {
    await db.query(
      `UPDATE "${s}".users u SET user_name = v.n, display_name = v.d, email = v.e, active = v.a, scim = v.sc, updated_at = $7
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[]) AS v(id, n, d, e, a, sc)
       WHERE u.id = v.id`,
      [updates.map((u) => u.row.id), ...columnArrays(updates.map((u) => u.resource)), now],
    );
  }
  if (deletes.length > 0) await db.query(`DELETE FROM "${s}".users WHERE id = ANY($1::text[])`, [deletes]);
  if (released.length > 0)
    await db.query(
      `UPDATE "${s}".source_users su SET released = v.r, left_group = CASE WHEN v.r = 1 THEN su.left_group END
       FROM unnest($1::text[], $2::int[]) AS v(id, r) WHERE su.entra_id = v.id`,
      [released.map((r) => r.entraId), released.map((r) => (r.released ? 1 : 0))],
    );
  if (unstaged.length > 0)
    await db.query(`DELETE FROM "${s}".staged_changes WHERE entra_id = ANY($1::text[])`, [unstaged]);
  if (staged.length > 0)
    await db.query(
      `INSERT INTO "${s}".staged_changes (entra_id, cycle_id, kind, user_name, staged_at)
       SELECT id, $2, k, n, $5 FROM unnest($1::text[], $3::text[], $4::text[]) AS v(id, k, n)
       ON CONFLICT (entra_id) DO UPDATE SET kind = excluded.kind, user_name = excluded.user_name`,
      [
        staged.map((x) => x.action.entraId),
        cycleId,
        staged.map((x) => x.action.kind),
        staged.map((x) => userNameOf(x.action)),
        now,
      ],
    );
  return results;
}

/** The plain columns of these resources, one array per column: user_name, display_name, email, active, scim. */
function columnArrays(resources: readonly ScimUserResource[]) {
  const cols = resources.map(columns);
  return [
    cols.map((c) => c.user_name),
    cols.map((c) => c.display_name),
    cols.map((c) => c.email),
    cols.map((c) => c.active),
    cols.map((c) => c.scim),
  ];
}

/** Links a row only if it is still unlinked and linkable; throws a LinkConflictError otherwise. */
async function link(
  db: Queryable,
  s: string,
  action: Extract<PlannedAction, { kind: 'link' }>,
): Promise<void> {
  const c = columns(action.resource);
  const { rowCount } = await db.query(
    `UPDATE "${s}".users SET external_id = $2, user_name = $3, display_name = $4, email = $5, active = $6, scim = $7,
       updated_at = $8 WHERE id = $1 AND external_id IS NULL AND (linkable IS NULL OR linkable <> 0)`,
    [
      action.row.id,
      action.entraId,
      c.user_name,
      c.display_name,
      c.email,
      c.active,
      c.scim,
      new Date().toISOString(),
    ],
  );
  if (rowCount === 1) return;
  const { rows } = await db.query<UserRow>(`SELECT * FROM "${s}".users WHERE id = $1`, [action.row.id]);
  const current = rows[0];
  const what = `local row ${action.row.id} (${current?.user_name ?? action.row.userName})`;
  if (!current) throw new LinkConflictError(`${what} no longer exists`);
  if (current.external_id !== null)
    throw new LinkConflictError(`${what} is already linked to ${current.external_id}`);
  throw new LinkConflictError(`${what} is not linkable (users.linkable = 0)`);
}

async function writeAlone(db: Queryable, s: string, w: ActionWrite, cycleId: string): Promise<AppliedAction> {
  await db.query('SAVEPOINT one');
  try {
    const [result] = await writeActions(db, s, [w], cycleId);
    await db.query('RELEASE one');
    return result!;
  } catch (error) {
    await db.query('ROLLBACK TO one; RELEASE one');
    return { action: rejectedAction(w.action, error), outcome: 'failed', userId: rowIdOf(w.action) };
  }
}
