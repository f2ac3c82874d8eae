/**
 * Groups on SQLite: the mirror of groups/delta (source_groups), the durable marks of what to plan or
 * recompute (pending_groups), and the application's `groups` and `group_members` (README, "Reading
 * the store"). Memberships are recomputed as set differences, so unchanged members cost no write.
 */
import type { AttributeValue } from '../source/types.js';
import { AuditLog } from './audit.js';
import type { Db } from './db.js';
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
} from './group-sql.js';
import type { AppliedGroupAction, GroupActionWrite, KnownGroup, StoreGroup } from './interface.js';
import type { RetrySpacing } from './pending.js';
import { prepared } from './statements.js';
import { namedGroup } from './named-user.js';
import { newUserId } from './users.js';

const now = () => new Date().toISOString();

/**
 * New facts: plan the group again (`plan`; a failing group is due at once, its spacing waived) or
 * recompute its members (`members`; 1, see group-sql.ts; a failing group's plan still waits).
 */
const MARK_PLAN = `INSERT INTO pending_groups (entra_id, plan) VALUES (?, 1)
  ON CONFLICT (entra_id) DO UPDATE SET plan = 1, retry_after = NULL`;
const MARK_MEMBERS = `INSERT INTO pending_groups (entra_id, members) VALUES (?, 1)
  ON CONFLICT (entra_id) DO UPDATE SET members = 1`;

/** A group's failure state cleared (its change applied). */
const NOT_FAILING = 'failures = 0, last_error = NULL, retry_after = NULL';

export class GroupTables {
  private readonly audit: AuditLog;

  constructor(private readonly db: Db) {
    this.audit = new AuditLog(db);
  }

  // ── Marks, from the mirror's writes ──

  /** A group as groups/delta lists it: planned again when new, changed, or back from removal. */
  upsertSource(
    entraId: string,
    displayName: string | null,
    attributes: Record<string, AttributeValue>,
    generation: number,
  ): void {
    const json = JSON.stringify(attributes);
    const old = prepared<[string], SourceGroupRow>(
      this.db,
      'SELECT * FROM source_groups WHERE entra_id = ?',
    ).get(entraId);
    prepared(
      this.db,
      `INSERT INTO source_groups (entra_id, display_name, attributes, removed, generation) VALUES (?, ?, ?, 0, ?)
       ON CONFLICT (entra_id) DO UPDATE SET display_name = excluded.display_name, attributes = excluded.attributes,
         removed = 0, generation = max(generation, excluded.generation)`,
    ).run(entraId, displayName, json, generation);
    if (!old || old.removed === 1 || old.display_name !== displayName || old.attributes !== json)
      this.markPlan(entraId);
  }

  /** A group deleted in Entra (or not listed by a full round): planned again. */
  removeSource(entraId: string): void {
    prepared(
      this.db,
      `INSERT INTO source_groups (entra_id, removed) VALUES (?, 1) ON CONFLICT (entra_id) DO UPDATE SET removed = 1`,
    ).run(entraId);
    this.markPlan(entraId);
  }

  markPlan(entraId: string): void {
    prepared(this.db, MARK_PLAN).run(entraId);
  }

  markMembers(entraId: string): void {
    prepared(this.db, MARK_MEMBERS).run(entraId);
  }

  /** A user row just linked: the groups listing it directly recompute (ancestors at settle). */
  markGroupsOfUser(entraUserId: string): void {
    prepared(
      this.db,
      `INSERT INTO pending_groups (entra_id, members)
         SELECT group_id, 1 FROM entra_group_members WHERE member_id = ? AND member_type = 'user'
       ON CONFLICT (entra_id) DO UPDATE SET members = 1`,
    ).run(entraUserId);
  }

  /** Before the mirror drops memberships a full round did not list: their groups recompute. */
  markUnseen(generation: number): void {
    prepared(
      this.db,
      `INSERT INTO pending_groups (entra_id, members)
         SELECT DISTINCT group_id, 1 FROM entra_group_members WHERE generation < ?
       ON CONFLICT (entra_id) DO UPDATE SET members = 1`,
    ).run(generation);
    prepared(
      this.db,
      `INSERT INTO pending_groups (entra_id, plan)
         SELECT entra_id, 1 FROM source_groups WHERE generation < ? AND removed = 0
       ON CONFLICT (entra_id) DO UPDATE SET plan = 1, retry_after = NULL`,
    ).run(generation);
    prepared(this.db, 'UPDATE source_groups SET removed = 1 WHERE generation < ? AND removed = 0').run(
      generation,
    );
  }

  markAllForPlan(): void {
    prepared(
      this.db,
      `INSERT INTO pending_groups (entra_id, plan, members) SELECT entra_id, 1, 1 FROM source_groups WHERE true
       ON CONFLICT (entra_id) DO UPDATE SET plan = 1, members = 1, retry_after = NULL`,
    ).run();
  }

  // ── Reads ──

  /** Groups to plan: failing ones only once their spacing has passed. */
  duePlan(afterId: string, limit: number): KnownGroup[] {
    const ids = prepared<[string, string, number], string>(
      this.db,
      `SELECT entra_id FROM pending_groups WHERE plan = 1 AND entra_id > ?
       AND (retry_after IS NULL OR retry_after <= ?) ORDER BY entra_id LIMIT ?`,
    )
      .pluck()
      .all(afterId, now(), limit);
    const known = this.known(ids);
    return ids.map((id) => known.get(id)!);
  }

  known(entraIds: readonly string[]): Map<string, KnownGroup> {
    const source = prepared<[string], SourceGroupRow>(
      this.db,
      'SELECT * FROM source_groups WHERE entra_id = ?',
    );
    const assigned = prepared<[string], number>(
      this.db,
      `SELECT 1 FROM assignments WHERE principal_id = ? AND principal_type = 'Group' LIMIT 1`,
    ).pluck();
    const linked = prepared<[string], GroupRow>(this.db, 'SELECT * FROM groups WHERE external_id = ?');
    const known = new Map<string, KnownGroup>();
    for (const entraId of entraIds) {
      if (known.has(entraId)) continue;
      const s = source.get(entraId);
      const row = linked.get(entraId);
      known.set(entraId, {
        entraId,
        source: s
          ? {
              displayName: s.display_name,
              attributes: JSON.parse(s.attributes) as Record<string, AttributeValue>,
              removed: s.removed === 1,
            }
          : null,
        assigned: assigned.get(entraId) === 1,
        linked: row ? toStoreGroup(row) : null,
      });
    }
    return known;
  }

  unlinkedByDisplayName(names: readonly string[]): Map<string, StoreGroup[]> {
    const byName = prepared<[string], GroupRow>(
      this.db,
      'SELECT * FROM groups WHERE external_id IS NULL AND display_name = ? COLLATE NOCASE ORDER BY id',
    );
    return new Map(names.map((n) => [n, byName.all(n).map(toStoreGroup)]));
  }

  failingCount(): number {
    return prepared<[], number>(this.db, 'SELECT count(*) FROM pending_groups WHERE failures > 0')
      .pluck()
      .get()!;
  }

  /** `entrasync retry`: failing groups (all, or the one named) are due in the next cycle. */
  retryFailed(group?: string): number {
    return prepared<{ g: string | null }>(
      this.db,
      `UPDATE pending_groups SET retry_after = NULL WHERE failures > 0
       AND (@g IS NULL OR ${namedGroup('', '@g', (c) => `${c} = @g COLLATE NOCASE`)})`,
    ).run({ g: group ?? null }).changes;
  }

  counts(): { total: number; linked: number; memberships: number } {
    return prepared(
      this.db,
      `SELECT (SELECT count(*) FROM groups) AS total, (SELECT count(external_id) FROM groups) AS linked,
         (SELECT count(*) FROM group_members) AS memberships`,
    ).get() as { total: number; linked: number; memberships: number };
  }

  find(key: string): StoreGroup[] {
    return prepared<{ k: string }, GroupRow>(
      this.db,
      `SELECT * FROM groups WHERE id = @k OR external_id = @k OR display_name = @k COLLATE NOCASE
       ORDER BY display_name, id`,
    )
      .all({ k: key })
      .map(toStoreGroup);
  }

  mirroredByDisplayName(displayName: string): string[] {
    return prepared<[string], string>(
      this.db,
      `SELECT entra_id FROM source_groups WHERE display_name = ? COLLATE NOCASE AND removed = 0
       ORDER BY entra_id`,
    )
      .pluck()
      .all(displayName);
  }

  memberIds(groupId: string): string[] {
    return prepared<[string], string>(
      this.db,
      'SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id',
    )
      .pluck()
      .all(groupId);
  }

  /** One page of rows in display-name order, after (display_name, id). */
  page(after: [string, string] | null, limit: number): StoreGroup[] {
    const rows = after
      ? prepared<[string, string, number], GroupRow>(
          this.db,
          'SELECT * FROM groups WHERE (display_name, id) > (?, ?) ORDER BY display_name, id LIMIT ?',
        ).all(after[0], after[1], limit)
      : prepared<[number], GroupRow>(this.db, 'SELECT * FROM groups ORDER BY display_name, id LIMIT ?').all(
          limit,
        );
    return rows.map(toStoreGroup);
  }

  // ── Writes ──

  /**
   * Each action in a savepoint of its own (`savepoint`): a rejected one fails that group alone. A
   * failed group ('error', or rejected) waits out `spacing` before it is planned again.
   */
  apply(
    cycleId: string,
    writes: readonly GroupActionWrite[],
    spacing: RetrySpacing,
    savepoint: <T>(fn: () => T) => T,
  ): AppliedGroupAction[] {
    return writes.map((w) => {
      try {
        return savepoint(() => this.applyOne(cycleId, w, spacing));
      } catch (error) {
        const groupId = 'groupId' in w ? w.groupId : null;
        const audit = rejectedGroupAudit(w, cycleId, error, groupId);
        this.audit.append(audit);
        this.fail(w.entraId, audit.reason ?? (error as Error).message, spacing);
        return { entraId: w.entraId, outcome: 'failed', groupId, error: (error as Error).message };
      }
    });
  }

  /**
   * Keeps a failed group to plan, due again after spacing that doubles from `baseSeconds` up to
   * `maxSeconds` with each failure in a row (pending.ts's `fail` for users).
   */
  private fail(entraId: string, error: string, spacing: RetrySpacing): void {
    prepared(
      this.db,
      `INSERT INTO pending_groups (entra_id, plan) VALUES (?, 1) ON CONFLICT (entra_id) DO UPDATE SET plan = 1`,
    ).run(entraId);
    prepared(
      this.db,
      `UPDATE pending_groups SET failures = failures + 1, last_error = @error,
         retry_after = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',
           '+' || min(@maxSeconds, @baseSeconds * (1 << min(failures, 30))) || ' seconds')
       WHERE entra_id = @id`,
    ).run({ id: entraId, error, baseSeconds: spacing.baseSeconds, maxSeconds: spacing.maxSeconds });
  }

  private applyOne(cycleId: string, w: GroupActionWrite, spacing: RetrySpacing): AppliedGroupAction {
    let groupId: string | null = 'groupId' in w ? w.groupId : null;
    let groupName: string | null = 'displayName' in w ? w.displayName : null;
    switch (w.kind) {
      case 'create':
        groupId = newUserId();
        prepared(
          this.db,
          `INSERT INTO groups (id, external_id, display_name, scim, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
        ).run(groupId, w.entraId, w.displayName, JSON.stringify(w.resource), now(), now());
        break;
      case 'update':
        if (
          prepared(this.db, 'UPDATE groups SET display_name = ?, scim = ?, updated_at = ? WHERE id = ?').run(
            w.displayName,
            JSON.stringify(w.resource),
            now(),
            w.groupId,
          ).changes === 0
        )
          throw new GroupLinkConflict(`local group ${w.groupId} no longer exists`);
        break;
      case 'link':
        if (
          prepared(
            this.db,
            `UPDATE groups SET external_id = ?, display_name = ?, scim = ?, updated_at = ?
             WHERE id = ? AND external_id IS NULL`,
          ).run(w.entraId, w.displayName, JSON.stringify(w.resource), now(), w.groupId).changes === 0
        )
          throw new GroupLinkConflict(`local group ${w.groupId} no longer exists or is linked already`);
        break;
      case 'delete':
        groupName =
          prepared<[string], string>(this.db, 'SELECT display_name FROM groups WHERE id = ?')
            .pluck()
            .get(w.groupId) ?? null;
        // Its memberships go with it (ON DELETE CASCADE).
        prepared(this.db, 'DELETE FROM groups WHERE id = ?').run(w.groupId);
        break;
      case 'keep':
        groupId =
          prepared<[string], string>(this.db, 'SELECT id FROM groups WHERE external_id = ?')
            .pluck()
            .get(w.entraId) ?? null;
        break;
      case 'error':
        break;
    }
    if (w.audit) this.audit.append(groupAudit(w, w.audit, groupId, groupName));
    if (w.kind === 'error') {
      this.fail(w.entraId, w.audit.reason ?? w.audit.reasonCode ?? 'failed', spacing);
      return { entraId: w.entraId, outcome: 'failed', groupId };
    }
    this.settlePlan(w);
    return { entraId: w.entraId, outcome: 'applied', groupId };
  }

  /**
   * Records the verdict and clears the plan mark and any failure state; a group (again) in scope
   * recomputes its members.
   */
  private settlePlan(w: Exclude<GroupActionWrite, { kind: 'error' }>): void {
    const inScope = w.kind === 'delete' ? false : w.inScope;
    const wasInScope =
      prepared<[string], number>(this.db, 'SELECT in_scope FROM source_groups WHERE entra_id = ?')
        .pluck()
        .get(w.entraId) === 1;
    prepared(this.db, 'UPDATE source_groups SET in_scope = ? WHERE entra_id = ?').run(
      inScope ? 1 : 0,
      w.entraId,
    );
    const recompute =
      w.kind === 'create' || w.kind === 'update' || w.kind === 'link' || (inScope && !wasInScope);
    if (w.kind === 'delete')
      prepared(this.db, 'DELETE FROM pending_groups WHERE entra_id = ?').run(w.entraId);
    else if (recompute)
      prepared(
        this.db,
        `INSERT INTO pending_groups (entra_id, members) VALUES (?, 1)
         ON CONFLICT (entra_id) DO UPDATE SET plan = 0, members = 1, ${NOT_FAILING}`,
      ).run(w.entraId);
    else {
      prepared(this.db, `UPDATE pending_groups SET plan = 0, ${NOT_FAILING} WHERE entra_id = ?`).run(
        w.entraId,
      );
      prepared(this.db, 'DELETE FROM pending_groups WHERE entra_id = ? AND plan = 0 AND members = 0').run(
        w.entraId,
      );
    }
  }

  /**
   * Recomputes the memberships of up to `limit` marked groups (group-sql.ts): only the differences
   * are written, each audited unless the group was created in this cycle. Inside the caller's
   * transaction: the marks clear with the writes, so an interrupted settle is completed next time.
   */
  settle(
    cycleId: string,
    options: { expandNested: boolean; limit: number },
  ): { groups: number; added: number; removed: number } {
    if (options.expandNested) prepared(this.db, markAncestorsSql('')).run();
    this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS settle_batch (
        entra_id TEXT PRIMARY KEY, group_id TEXT, audited INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TEMP TABLE IF NOT EXISTS settle_desired (
        group_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (group_id, user_id)) WITHOUT ROWID;
      DELETE FROM temp.settle_batch; DELETE FROM temp.settle_desired;`);
    const groups = prepared(
      this.db,
      `INSERT INTO temp.settle_batch (entra_id, group_id, audited)
       SELECT p.entra_id, CASE WHEN sg.in_scope = 1 THEN g.id END,
         NOT EXISTS (SELECT 1 FROM audit a WHERE a.group_id = g.id AND a.cycle_id = ? AND a.action = 'create'
                     AND a.object_type = 'group')
       FROM pending_groups p LEFT JOIN groups g ON g.external_id = p.entra_id
         LEFT JOIN source_groups sg ON sg.entra_id = p.entra_id
       WHERE p.members >= 1 ORDER BY p.entra_id LIMIT ?`,
    ).run(cycleId, options.limit).changes;
    if (groups === 0) return { groups: 0, added: 0, removed: 0 };
    prepared(
      this.db,
      `INSERT OR IGNORE INTO temp.settle_desired (group_id, user_id)
       ${desiredMembersSql('', 'temp.settle_batch', options.expandNested)}`,
    ).run();
    const added = prepared<[], Pair>(
      this.db,
      `INSERT INTO group_members (group_id, user_id)
       SELECT group_id, user_id FROM temp.settle_desired
       EXCEPT SELECT gm.group_id, gm.user_id FROM group_members gm JOIN temp.settle_batch b ON b.group_id = gm.group_id
       RETURNING group_id, user_id`,
    ).all();
    const removed = prepared<[], Pair>(
      this.db,
      `DELETE FROM group_members
       WHERE group_id IN (SELECT group_id FROM temp.settle_batch WHERE group_id IS NOT NULL)
         AND NOT EXISTS (SELECT 1 FROM temp.settle_desired d
                         WHERE d.group_id = group_members.group_id AND d.user_id = group_members.user_id)
       RETURNING group_id, user_id`,
    ).all();
    this.auditMembers(cycleId, added, MEMBER_AUDIT.add);
    this.auditMembers(cycleId, removed, MEMBER_AUDIT.remove);
    this.db
      .exec(`UPDATE pending_groups SET members = 0 WHERE entra_id IN (SELECT entra_id FROM temp.settle_batch);
      DELETE FROM pending_groups WHERE plan = 0 AND members = 0
        AND entra_id IN (SELECT entra_id FROM temp.settle_batch);`);
    return { groups, added: added.length, removed: removed.length };
  }

  /** One statement for a call's changes: the pairs as JSON, named from the rows they are about. */
  private auditMembers(
    cycleId: string,
    pairs: Pair[],
    what: (typeof MEMBER_AUDIT)[keyof typeof MEMBER_AUDIT],
  ): void {
    if (pairs.length === 0) return;
    prepared(
      this.db,
      `INSERT INTO audit (cycle_id, at, action, status, entra_id, user_id, user_name, modified, reason_code, reason,
         object_type, group_id, group_name)
       SELECT @cycleId, @at, @action, 'success', b.entra_id, u.id, u.user_name, '[]', @code, @reason,
         'group', g.id, g.display_name
       FROM json_each(@pairs) j
         JOIN temp.settle_batch b ON b.group_id = j.value ->> 0 AND b.audited = 1
         JOIN groups g ON g.id = b.group_id
         JOIN users u ON u.id = j.value ->> 1
       ORDER BY g.display_name, g.id, u.user_name`,
    ).run({
      cycleId,
      at: now(),
      action: what.action,
      code: what.code,
      reason: what.reason,
      pairs: JSON.stringify(pairs.map((p) => [p.group_id, p.user_id])),
    });
  }
}

interface Pair {
  group_id: string;
  user_id: string;
}
