/**
 * Groups in the store (issue 16), on both stores: the application's `groups` and `group_members`
 * read with plain SQL, the marks that drive planning and membership recompute, and the migration of
 * a store made before groups.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditDraft } from '../../src/plan/audit-entry.js';
import type { PlannedAction } from '../../src/plan/types.js';
import type { GroupActionWrite, GroupWrite, UserStore } from '../../src/store/index.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openUserStore } from '../../src/store/open.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { tempDir } from '../support/harness.js';
import { freshDatabase } from '../support/postgres.js';
import { RETRY_SPACING, STORE_KINDS, createAction, testStore, type TestStore } from '../support/stores.js';

const retry = RETRY_SPACING;
const uid = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const gid = (n: number) => `99999999-0000-0000-0000-${String(n).padStart(12, '0')}`;

const createUser = createAction;

const draft = (cycleId: string, action: string, entraId: string): AuditDraft => ({
  cycleId,
  action,
  status: 'success',
  entraId,
  userId: null,
  userName: null,
  modified: [],
  reasonCode: 'test',
  reason: 'test',
});

const groupResource = (displayName: string, entraId: string) => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
  displayName,
  externalId: entraId,
});

const create = (cycleId: string, entraId: string, displayName: string): GroupActionWrite => ({
  kind: 'create',
  entraId,
  displayName,
  resource: groupResource(displayName, entraId),
  inScope: true,
  audit: draft(cycleId, 'create', entraId),
});

const attrs = (
  groupId: string,
  displayName: string | null,
  more: Record<string, string> = {},
): GroupWrite => ({
  op: 'groupAttributes',
  groupId,
  displayName,
  attributes: { id: groupId, displayName, ...more },
});
const member = (groupId: string, memberId: string, memberType = 'user'): GroupWrite => ({
  op: 'add',
  membership: { groupId, memberId, memberType },
});

describe.each(STORE_KINDS)('groups in the %s store', (kind) => {
  let store: UserStore;
  let sql: TestStore;
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0).reverse()) await s.close();
  });

  async function fresh(): Promise<void> {
    const dir = tempDir('entrasync-groups-');
    const where = kind === 'sqlite' ? join(dir, 'store.db') : await freshDatabase('groups');
    store = await openUserStore(where, { env: {} });
    opened.push(store);
    sql = kind === 'sqlite' ? await testStore(kind, dir) : await pgView(where);
    opened.push(sql);
  }

  const page = (writes: GroupWrite[], generation = 1) =>
    store.write(() => store.scope.applyGroupPage(writes, generation), 'test');
  const apply = (cycleId: string, writes: GroupActionWrite[]) => store.groups.apply(cycleId, writes, retry);
  const settle = (cycleId: string, expandNested = false, limit = 100) =>
    store.groups.settleMemberships(cycleId, { expandNested, limit });
  const settleAll = async (cycleId: string, expandNested = false) => {
    const total = { groups: 0, added: 0, removed: 0 };
    for (;;) {
      const r = await settle(cycleId, expandNested);
      if (r.groups === 0) return total;
      total.groups += r.groups;
      total.added += r.added;
      total.removed += r.removed;
    }
  };
  /** Users created and linked, named user<n>@x.test; returns their local ids by Entra id. */
  async function users(ns: number[]): Promise<Map<string, string>> {
    const applied = await store.write(
      () =>
        store.applyBatch({
          cycleId: 'users',
          retry,
          actions: ns.map((n) => ({
            action: createUser(uid(n), `user${n}@x.test`),
            stage: false,
            forgetWhenApplied: false,
          })),
        }),
      'test',
    );
    return new Map(applied.map((a) => [a.action.entraId, a.userId!]));
  }
  const marks = async () =>
    sql.query<{ entra_id: string; plan: number; members: number }>(
      'SELECT entra_id, plan, members FROM t.pending_groups ORDER BY entra_id',
    );
  const membersOf = async (groupId: string) =>
    (
      await sql.query<{ user_name: string }>(
        `SELECT u.user_name FROM t.group_members gm JOIN t.users u ON u.id = gm.user_id
         WHERE gm.group_id = ? ORDER BY u.user_name`,
        [groupId],
      )
    ).map((r) => r.user_name);
  const memberAudit = async (cycleId: string) =>
    (await store.audit.query({ cycleId, limit: 10_000 })).filter((e) => e.action.endsWith('-member'));

  /** Links Entra group 1 to the local group 'taken', which another Entra group holds: rejected. */
  const linkToTaken = (cycleId: string): GroupActionWrite => ({
    kind: 'link',
    entraId: gid(1),
    groupId: 'taken',
    displayName: 'Taken',
    resource: groupResource('Taken', gid(1)),
    inScope: true,
    audit: draft(cycleId, 'link', gid(1)),
  });

  /**
   * A store made by an older entrasync (SQLite schema `version`; PostgreSQL's 4 versions fewer), with
   * `rows` written in it (`t.` names its tables, `?` its parameters), then opened by this one.
   */
  async function openAtVersion(version: number, rows: [string, unknown[]][]): Promise<void> {
    const dir = tempDir(`entrasync-groups-v${version}-`);
    let where: string;
    if (kind === 'sqlite') {
      where = join(dir, 'store.db');
      const db = new Database(where);
      for (const m of MIGRATIONS.slice(0, version)) db.exec(m);
      db.pragma(`user_version = ${version}`);
      for (const [text, params] of rows) db.prepare(text.replace(/\bt\./g, '')).run(...params);
      db.close();
    } else {
      where = await freshDatabase(`groups_v${version}`);
      const pool = new pg.Pool({ connectionString: where, max: 1 });
      await pool.query('CREATE SCHEMA entrasync');
      await pool.query(
        'CREATE TABLE entrasync.schema_version (one boolean PRIMARY KEY DEFAULT true, version integer NOT NULL)',
      );
      const pgVersion = version - 4;
      for (const m of PG_MIGRATIONS.slice(0, pgVersion)) await pool.query(m('entrasync'));
      await pool.query('INSERT INTO entrasync.schema_version (version) VALUES ($1)', [pgVersion]);
      for (const [text, params] of rows) {
        let n = 0;
        await pool.query(
          text.replace(/\bt\./g, 'entrasync.').replace(/\?/g, () => `$${++n}`),
          params,
        );
      }
      await pool.end();
    }
    store = await openUserStore(where, { env: {} });
    opened.push(store);
    sql = kind === 'sqlite' ? await testStore(kind, dir) : await pgView(where);
    opened.push(sql);
  }

  it('migration 7 keeps the mirror of a store made at version 6 (group_members becomes entra_group_members)', async () => {
    await openAtVersion(6, [
      [
        `INSERT INTO t.group_members (group_id, member_id, member_type, generation) VALUES (?, ?, 'user', 4)`,
        [gid(1), uid(1)],
      ],
    ]);
    expect(
      await sql.query('SELECT group_id, member_id, member_type, generation FROM t.entra_group_members'),
    ).toEqual([{ group_id: gid(1), member_id: uid(1), member_type: 'user', generation: 4 }]);
    expect(await sql.query('SELECT * FROM t.group_members')).toEqual([]);
    // The migrated mirror still gives scope.
    await store.write(async () => {
      await store.scope.beginListing();
      await store.scope.addToListing([{ principalId: gid(1), principalType: 'Group', appRoleId: 'r' }]);
      await store.scope.commitListing(null, false);
    }, 'test');
    expect((await store.knownUsers([uid(1)], { appRoles: false })).get(uid(1))!.scope).toBe('group');
  });

  it('the mirror marks groups to plan: new, changed, removed, unseen by a full round, (un)assigned, all', async () => {
    await fresh();
    await page([attrs(gid(1), 'Sales'), attrs(gid(2), 'Ops')], 1);
    expect(await marks()).toEqual([
      { entra_id: gid(1), plan: 1, members: 0 },
      { entra_id: gid(2), plan: 1, members: 0 },
    ]);
    await apply('c1', [
      { kind: 'keep', entraId: gid(1), inScope: false, audit: null },
      { kind: 'keep', entraId: gid(2), inScope: false, audit: null },
    ]);
    expect(await marks()).toEqual([]);
    // The same again: no new fact. A new name, new attributes: planned again.
    await page([attrs(gid(1), 'Sales'), attrs(gid(2), 'Ops')], 2);
    expect(await marks()).toEqual([]);
    await page([attrs(gid(1), 'Sales EMEA'), attrs(gid(2), 'Ops', { description: 'x' })], 2);
    expect((await marks()).map((m) => [m.entra_id, m.plan])).toEqual([
      [gid(1), 1],
      [gid(2), 1],
    ]);
    expect((await store.groups.known([gid(1)])).get(gid(1))!.source).toEqual({
      displayName: 'Sales EMEA',
      attributes: { id: gid(1), displayName: 'Sales EMEA' },
      removed: false,
    });
    await apply('c1', [
      { kind: 'keep', entraId: gid(1), inScope: false, audit: null },
      { kind: 'keep', entraId: gid(2), inScope: false, audit: null },
    ]);

    // Deleted: removed and planned; listed again: back.
    await page([{ op: 'removeGroup', groupId: gid(1) }], 3);
    expect(await marks()).toEqual([{ entra_id: gid(1), plan: 1, members: 0 }]);
    expect((await store.groups.known([gid(1)])).get(gid(1))!.source!.removed).toBe(true);
    await apply('c1', [{ kind: 'keep', entraId: gid(1), inScope: false, audit: null }]);
    await page([attrs(gid(1), 'Sales EMEA')], 4);
    expect(await marks()).toEqual([{ entra_id: gid(1), plan: 1, members: 0 }]);
    expect((await store.groups.known([gid(1)])).get(gid(1))!.source!.removed).toBe(false);
    await apply('c1', [{ kind: 'keep', entraId: gid(1), inScope: false, audit: null }]);

    // A full round (generation 5) that lists gid(1) with a member, not gid(2): gid(2) is gone.
    await page([attrs(gid(1), 'Sales EMEA'), member(gid(1), uid(1))], 5);
    expect(await marks()).toEqual([{ entra_id: gid(1), plan: 0, members: 1 }]);
    await store.write(() => store.scope.dropUnseenMemberships(5), 'test');
    expect((await marks()).map((m) => [m.entra_id, m.plan])).toEqual([
      [gid(1), 0],
      [gid(2), 1],
    ]);
    expect((await store.groups.known([gid(2)])).get(gid(2))!.source!.removed).toBe(true);

    // Assigned, then unassigned: planned each time.
    await apply('c1', [{ kind: 'keep', entraId: gid(2), inScope: false, audit: null }]);
    await settleAll('c1');
    expect(await marks()).toEqual([]);
    const listing = (items: { principalId: string; principalType: string }[]) =>
      store.write(async () => {
        await store.scope.beginListing();
        await store.scope.addToListing(items.map((i) => ({ ...i, appRoleId: 'r' })));
        return store.scope.commitListing(null, false);
      }, 'test');
    await listing([{ principalId: gid(1), principalType: 'Group' }]);
    expect(await marks()).toEqual([{ entra_id: gid(1), plan: 1, members: 0 }]);
    expect((await store.groups.known([gid(1)])).get(gid(1))!.assigned).toBe(true);
    await apply('c1', [{ kind: 'keep', entraId: gid(1), inScope: true, audit: null }]);
    await settleAll('c1');
    await listing([{ principalId: uid(9), principalType: 'User' }]);
    expect(await marks()).toEqual([{ entra_id: gid(1), plan: 1, members: 0 }]);
    expect((await store.groups.known([gid(1)])).get(gid(1))!.assigned).toBe(false);

    await store.groups.markAllForPlan();
    expect(await marks()).toEqual([
      { entra_id: gid(1), plan: 1, members: 1 },
      { entra_id: gid(2), plan: 1, members: 1 },
    ]);
    const due = await store.groups.duePlan('', 10);
    expect(due.map((g) => g.entraId)).toEqual([gid(1), gid(2)]);
    expect((await store.groups.duePlan(gid(1), 10)).map((g) => g.entraId)).toEqual([gid(2)]);
  });

  it('create, rename (same local id), find, counts, unlinked by name; the application’s own group untouched', async () => {
    await fresh();
    const ids = await users([1, 2]);
    await page([attrs(gid(1), 'Sales'), member(gid(1), uid(1)), member(gid(1), uid(2))]);
    // The application's own group, with a member of its own.
    await sql.query(`INSERT INTO t.groups (id, display_name) VALUES ('app-group', 'Local Admins')`);
    await sql.query(`INSERT INTO t.group_members (group_id, user_id) VALUES ('app-group', ?)`, [
      ids.get(uid(1)),
    ]);

    const [created] = await apply('c1', [create('c1', gid(1), 'Sales')]);
    expect(created).toMatchObject({ entraId: gid(1), outcome: 'applied', groupId: expect.any(String) });
    const id = created!.groupId!;
    // Created in this cycle: its members are not audited one by one.
    expect(await settleAll('c1')).toEqual({ groups: 1, added: 2, removed: 0 });
    expect(await memberAudit('c1')).toEqual([]);
    expect(await membersOf(id)).toEqual(['user1@x.test', 'user2@x.test']);
    expect(await store.groups.memberIds(id)).toEqual([ids.get(uid(1)), ids.get(uid(2))].sort());

    await page([attrs(gid(1), 'Sales EMEA')], 2);
    const [renamed] = await apply('c2', [
      {
        kind: 'update',
        entraId: gid(1),
        groupId: id,
        displayName: 'Sales EMEA',
        resource: groupResource('Sales EMEA', gid(1)),
        inScope: true,
        audit: draft('c2', 'update', gid(1)),
      },
    ]);
    expect(renamed).toMatchObject({ outcome: 'applied', groupId: id });
    expect(await settleAll('c2')).toMatchObject({ added: 0, removed: 0 });
    expect(
      await sql.query('SELECT id, external_id, display_name FROM t.groups ORDER BY display_name'),
    ).toEqual([
      { id: 'app-group', external_id: null, display_name: 'Local Admins' },
      { id, external_id: gid(1), display_name: 'Sales EMEA' },
    ]);
    expect(
      JSON.parse(
        (await sql.query<{ scim: string }>('SELECT scim FROM t.groups WHERE id = ?', [id]))[0]!.scim,
      ),
    ).toEqual(groupResource('Sales EMEA', gid(1)));
    expect(await membersOf(id)).toEqual(['user1@x.test', 'user2@x.test']);

    for (const key of [id, gid(1), 'sales emea'])
      expect(
        (await store.groups.find(key)).map((g) => g.id),
        key,
      ).toEqual([id]);
    expect(await store.groups.find('nothing')).toEqual([]);
    expect(await store.groups.counts()).toEqual({ total: 2, linked: 1, memberships: 3 });
    const unlinked = await store.groups.unlinkedByDisplayName(['LOCAL ADMINS', 'Sales EMEA']);
    expect(unlinked.get('LOCAL ADMINS')!.map((g) => g.id)).toEqual(['app-group']);
    expect(unlinked.get('Sales EMEA')).toEqual([]);
    const all = [];
    for await (const g of store.groups.inDisplayNameOrder()) all.push(g.displayName);
    expect(all).toEqual(['Local Admins', 'Sales EMEA']);

    // Everything marked and settled again: the application's group and its member stay.
    await store.groups.markAllForPlan();
    await settleAll('c3', true);
    expect(await membersOf('app-group')).toEqual(['user1@x.test']);

    // The group's history, by local id, Entra id or name.
    for (const key of [id, gid(1), 'SALES EMEA'])
      expect(
        (await store.audit.query({ group: key })).map((e) => [e.action, e.objectType, e.groupId]),
      ).toEqual([
        ['create', 'group', id],
        ['update', 'group', id],
      ]);
  });

  it('one member added to a 2,000-member group writes one membership and one audit row', async () => {
    await fresh();
    const n = Array.from({ length: 2001 }, (_, i) => i + 1);
    await users(n);
    await page([attrs(gid(1), 'Everyone'), ...n.slice(0, 2000).map((i) => member(gid(1), uid(i)))]);
    const [created] = await apply('c1', [create('c1', gid(1), 'Everyone')]);
    expect(await settleAll('c1')).toEqual({ groups: 1, added: 2000, removed: 0 });

    await page([member(gid(1), uid(2001))], 2);
    expect(await settleAll('c2')).toEqual({ groups: 1, added: 1, removed: 0 });
    const rows = await memberAudit('c2');
    expect(rows.map((e) => [e.action, e.reasonCode, e.entraId, e.userName, e.groupId, e.groupName])).toEqual([
      ['add-member', 'member-added', gid(1), 'user2001@x.test', created!.groupId, 'Everyone'],
    ]);
    expect((await store.groups.counts()).memberships).toBe(2001);

    await page([{ op: 'remove', groupId: gid(1), memberId: uid(7), memberType: 'user' }], 3);
    expect(await settleAll('c3')).toEqual({ groups: 1, added: 0, removed: 1 });
    expect((await memberAudit('c3')).map((e) => [e.action, e.userName])).toEqual([
      ['remove-member', 'user7@x.test'],
    ]);
  });

  it('nested groups: direct members only, or transitive ones with a cycle in the nesting', async () => {
    await fresh();
    await users([1, 2, 3]);
    // Parent ⊃ Child ⊃ Parent (a cycle); user1 in Parent, user2 in Child.
    await page([
      attrs(gid(1), 'Parent'),
      attrs(gid(2), 'Child'),
      member(gid(1), uid(1)),
      member(gid(2), uid(2)),
      member(gid(1), gid(2), 'group'),
      member(gid(2), gid(1), 'group'),
    ]);
    const [parent, child] = await apply('c1', [
      create('c1', gid(1), 'Parent'),
      create('c1', gid(2), 'Child'),
    ]);
    await settleAll('c1', false);
    expect(await membersOf(parent!.groupId!)).toEqual(['user1@x.test']);
    expect(await membersOf(child!.groupId!)).toEqual(['user2@x.test']);

    await store.groups.markAllForPlan();
    await settleAll('c2', true);
    expect(await membersOf(parent!.groupId!)).toEqual(['user1@x.test', 'user2@x.test']);
    expect(await membersOf(child!.groupId!)).toEqual(['user1@x.test', 'user2@x.test']);

    // A change in the child alone reaches its ancestor (through the cycle, once).
    await page([member(gid(2), uid(3))], 2);
    expect(await settleAll('c3', true)).toEqual({ groups: 2, added: 2, removed: 0 });
    expect(await membersOf(parent!.groupId!)).toEqual(['user1@x.test', 'user2@x.test', 'user3@x.test']);
    expect((await memberAudit('c3')).map((e) => [e.groupName, e.userName])).toEqual([
      ['Child', 'user3@x.test'],
      ['Parent', 'user3@x.test'],
    ]);

    // Back to direct members only.
    await store.groups.markAllForPlan();
    expect(await settleAll('c4', false)).toMatchObject({ removed: 3 });
    expect(await membersOf(parent!.groupId!)).toEqual(['user1@x.test']);
  });

  it('users: a disabled one keeps its memberships, a deleted one loses them; a user linked later joins', async () => {
    await fresh();
    const ids = await users([1, 2]);
    await page([
      attrs(gid(1), 'Team'),
      member(gid(1), uid(1)),
      member(gid(1), uid(2)),
      member(gid(1), uid(3)),
    ]);
    const [team] = await apply('c1', [create('c1', gid(1), 'Team')]);
    await settleAll('c1');
    expect(await membersOf(team!.groupId!)).toEqual(['user1@x.test', 'user2@x.test']);

    const row = async (n: number) => (await store.users.get(ids.get(uid(n))!))!;
    const disabled = await row(1);
    const deleted = await row(2);
    await store.write(
      () =>
        store.applyBatch({
          cycleId: 'c2',
          retry,
          actions: [
            {
              action: {
                kind: 'disable',
                entraId: uid(1),
                row: disabled,
                resource: { ...disabled.resource, active: false },
                modified: [],
                code: 'unassigned',
                reason: 'no longer assigned',
              } as PlannedAction,
              stage: false,
              forgetWhenApplied: false,
            },
            {
              action: {
                kind: 'delete',
                entraId: uid(2),
                row: deleted,
                code: 'hard-deleted',
                reason: 'deleted in Entra',
              } as PlannedAction,
              stage: false,
              forgetWhenApplied: false,
            },
          ],
        }),
      'test',
    );
    expect(await sql.query('SELECT active FROM t.users WHERE id = ?', [ids.get(uid(1))])).toEqual([
      { active: 0 },
    ]);
    expect(await membersOf(team!.groupId!)).toEqual(['user1@x.test']);
    // The delete is the user's own audit row: no member rows.
    expect(await memberAudit('c2')).toEqual([]);

    // user3, a member in Entra all along, gets a row: the group gains it.
    await users([3]);
    expect(await marks()).toEqual([{ entra_id: gid(1), plan: 0, members: 1 }]);
    expect(await settleAll('c3')).toEqual({ groups: 1, added: 1, removed: 0 });
    expect(await membersOf(team!.groupId!)).toEqual(['user1@x.test', 'user3@x.test']);
  });

  it('delete removes the group and its memberships; out of scope and kept, a group is frozen', async () => {
    await fresh();
    const ids = await users([1, 2]);
    await page([
      attrs(gid(1), 'Gone'),
      attrs(gid(2), 'Frozen'),
      member(gid(1), uid(1)),
      member(gid(2), uid(1)),
    ]);
    const [gone, frozen] = await apply('c1', [create('c1', gid(1), 'Gone'), create('c1', gid(2), 'Frozen')]);
    await settleAll('c1');

    await page([{ op: 'removeGroup', groupId: gid(1) }], 2);
    const [deleted] = await apply('c2', [
      { kind: 'delete', entraId: gid(1), groupId: gone!.groupId!, audit: draft('c2', 'delete', gid(1)) },
      { kind: 'keep', entraId: gid(2), inScope: false, audit: null },
    ]);
    expect(deleted).toMatchObject({ outcome: 'applied', groupId: gone!.groupId });
    expect(await sql.query('SELECT id FROM t.groups WHERE id = ?', [gone!.groupId])).toEqual([]);
    expect(await sql.query('SELECT * FROM t.group_members WHERE group_id = ?', [gone!.groupId])).toEqual([]);
    expect(
      (await store.audit.query({ cycleId: 'c2' })).map((e) => [e.action, e.objectType, e.groupName]),
    ).toEqual([['delete', 'group', 'Gone']]);

    // Frozen: Entra's memberships change, the row does not.
    await page([member(gid(2), uid(2))], 3);
    await settleAll('c3');
    expect(await membersOf(frozen!.groupId!)).toEqual(['user1@x.test']);
    // Back in scope: recomputed.
    await apply('c4', [{ kind: 'keep', entraId: gid(2), inScope: true, audit: null }]);
    await settleAll('c4');
    expect(await membersOf(frozen!.groupId!)).toEqual(['user1@x.test', 'user2@x.test']);
    expect(ids.size).toBe(2);
  });

  it('a rejected link fails that group alone, with an error row', async () => {
    await fresh();
    await sql.query(`INSERT INTO t.groups (id, display_name, external_id) VALUES ('taken', 'Taken', ?)`, [
      gid(9),
    ]);
    await page([attrs(gid(1), 'Taken'), attrs(gid(2), 'Fine')]);
    const results = await apply('c1', [linkToTaken('c1'), create('c1', gid(2), 'Fine')]);
    expect(results.map((r) => [r.entraId, r.outcome])).toEqual([
      [gid(1), 'failed'],
      [gid(2), 'applied'],
    ]);
    expect(results[0]!.error).toMatch(/linked already/);
    const audit = await store.audit.query({ cycleId: 'c1' });
    expect(audit.map((e) => [e.action, e.status, e.reasonCode, e.entraId])).toEqual([
      ['error', 'failure', 'link-conflict', gid(1)],
      ['create', 'success', 'test', gid(2)],
    ]);
    // Still to plan: tried again in the next cycle.
    expect((await marks()).find((m) => m.entra_id === gid(1))).toMatchObject({ plan: 1 });
  });

  it('a failing group waits out spacing that doubles; new facts, retryFailed or a success end the wait', async () => {
    await fresh();
    await page([attrs(gid(1), 'Bad'), attrs(gid(2), 'Fine')]);
    const failure = (cycleId: string): GroupActionWrite => ({
      kind: 'error',
      entraId: gid(1),
      audit: { ...draft(cycleId, 'error', gid(1)), status: 'failure', reason: 'the mapping failed' },
    });
    const failingRow = async () =>
      (
        await sql.query<{
          plan: number;
          failures: number;
          last_error: string | null;
          retry_after: string | null;
        }>('SELECT plan, failures, last_error, retry_after FROM t.pending_groups WHERE entra_id = ?', [
          gid(1),
        ])
      )[0];
    const spacingOf = async () => Date.parse((await failingRow())!.retry_after!) - Date.now();
    const due = async () => (await store.groups.duePlan('', 10)).map((g) => g.entraId);

    const results = await apply('c1', [failure('c1'), create('c1', gid(2), 'Fine')]);
    expect(results.map((r) => r.outcome)).toEqual(['failed', 'applied']);
    expect(await failingRow()).toMatchObject({ plan: 1, failures: 1, last_error: 'the mapping failed' });
    expect(await spacingOf()).toBeGreaterThan(55_000);
    expect(await spacingOf()).toBeLessThanOrEqual(60_000);
    // In its spacing: not due, whatever cycle asks; counted as failing.
    expect(await due()).toEqual([]);
    expect(await store.groups.failingCount()).toBe(1);

    // The spacing passed: due; a second failure doubles it.
    await sql.query(`UPDATE t.pending_groups SET retry_after = '2000-01-01T00:00:00.000Z'`);
    expect(await due()).toEqual([gid(1)]);
    await apply('c2', [failure('c2')]);
    expect(await failingRow()).toMatchObject({ failures: 2 });
    expect(await spacingOf()).toBeGreaterThan(115_000);
    expect(await spacingOf()).toBeLessThanOrEqual(120_000);

    // A membership change alone does not make its plan due.
    await page([member(gid(1), uid(1))], 2);
    expect(await due()).toEqual([]);
    // A change to the group does, at once; its failure count stays until a success.
    await page([attrs(gid(1), 'Bad again')], 2);
    expect(await due()).toEqual([gid(1)]);
    expect(await failingRow()).toMatchObject({ failures: 2, retry_after: null });
    await apply('c3', [failure('c3')]);
    expect(await spacingOf()).toBeGreaterThan(235_000);
    // So do the assignment listing and markAllForPlan.
    await store.write(async () => {
      await store.scope.beginListing();
      await store.scope.addToListing([{ principalId: gid(1), principalType: 'Group', appRoleId: 'r' }]);
      await store.scope.commitListing(null, false);
    }, 'test');
    expect(await due()).toEqual([gid(1)]);
    await apply('c4', [failure('c4')]);
    expect(await due()).toEqual([]);
    await store.groups.markAllForPlan();
    expect(await due()).toEqual([gid(1), gid(2)]);
    await apply('c5', [failure('c5'), { kind: 'keep', entraId: gid(2), inScope: true, audit: null }]);
    expect(await failingRow()).toMatchObject({ failures: 5 });
    // The maximum bounds the spacing: 60 s × 2^6 would be 3,840 s; it is 3,600.
    await apply('c6', [failure('c6')]);
    await apply('c7', [failure('c7')]);
    expect(await spacingOf()).toBeLessThanOrEqual(3600_000);
    expect(await spacingOf()).toBeGreaterThan(3500_000);

    // retryFailed: by display name (any case), else by id, else all.
    expect(await store.groups.retryFailed('no such group')).toBe(0);
    expect(await store.groups.retryFailed('bad AGAIN')).toBe(1);
    expect(await due()).toEqual([gid(1)]);
    await apply('c8', [failure('c8')]);
    expect(await store.groups.retryFailed(gid(1))).toBe(1);
    await apply('c9', [failure('c9')]);
    expect(await store.groups.retryFailed()).toBe(1);
    expect(await due()).toEqual([gid(1)]);

    // A success clears the failure state (the row stays while its members are to recompute).
    await apply('c10', [create('c10', gid(1), 'Bad again')]);
    expect(await failingRow()).toMatchObject({ plan: 0, failures: 0, last_error: null, retry_after: null });
    expect(await store.groups.failingCount()).toBe(0);
  });

  it('a rejected write is a failure too, spaced like an error', async () => {
    await fresh();
    await sql.query(`INSERT INTO t.groups (id, display_name, external_id) VALUES ('taken', 'Taken', ?)`, [
      gid(9),
    ]);
    await page([attrs(gid(1), 'Taken')]);
    expect((await apply('c1', [linkToTaken('c1')]))[0]!.outcome).toBe('failed');
    const [row] = await sql.query<{ failures: number; last_error: string; retry_after: string }>(
      'SELECT failures, last_error, retry_after FROM t.pending_groups WHERE entra_id = ?',
      [gid(1)],
    );
    expect(row).toMatchObject({ failures: 1, last_error: expect.stringMatching(/linked already/) });
    expect(Date.parse(row!.retry_after) - Date.now()).toBeGreaterThan(55_000);
    expect(await store.groups.duePlan('', 10)).toEqual([]);
  });

  it('migration 9 keeps the group marks of a store made at version 8, not failing', async () => {
    await openAtVersion(8, [
      ['INSERT INTO t.pending_groups (entra_id, plan, members) VALUES (?, 1, 1)', [gid(1)]],
      [`INSERT INTO t.source_groups (entra_id, display_name) VALUES (?, 'Kept')`, [gid(1)]],
    ]);
    expect(await sql.query('SELECT * FROM t.pending_groups')).toEqual([
      { entra_id: gid(1), plan: 1, members: 1, failures: 0, last_error: null, retry_after: null },
    ]);
    expect((await store.groups.duePlan('', 10)).map((g) => g.entraId)).toEqual([gid(1)]);
    expect(await store.groups.failingCount()).toBe(0);
  });

  it('an interrupted settle is completed by the next call; staged group deletes round-trip', async () => {
    await fresh();
    await users([1, 2]);
    await page([attrs(gid(1), 'One'), attrs(gid(2), 'Two'), member(gid(1), uid(1)), member(gid(2), uid(2))]);
    const [one, two] = await apply('c1', [create('c1', gid(1), 'One'), create('c1', gid(2), 'Two')]);
    // A settle whose transaction dies: nothing of it stays, the marks included.
    await expect(
      store.write(async () => {
        await settle('c1', true, 100);
        throw new Error('crash');
      }, 'test'),
    ).rejects.toThrow('crash');
    expect((await store.groups.counts()).memberships).toBe(0);
    expect((await marks()).map((m) => m.members)).toEqual([1, 1]);
    // One call done, then the process ends: the other group is still marked, and done next time.
    expect(await settle('c1', true, 1)).toEqual({ groups: 1, added: 1, removed: 0 });
    expect((await marks()).map((m) => m.entra_id)).toEqual([gid(2)]);
    expect(await settle('c1', true, 1)).toEqual({ groups: 1, added: 1, removed: 0 });
    expect(await settle('c1', true, 1)).toEqual({ groups: 0, added: 0, removed: 0 });
    expect(await membersOf(one!.groupId!)).toEqual(['user1@x.test']);
    expect(await membersOf(two!.groupId!)).toEqual(['user2@x.test']);

    await store.write(
      () => store.staged.restage([{ entraId: gid(1), cycleId: 'c1', kind: 'delete-group', userName: 'One' }]),
      'test',
    );
    expect(await store.staged.list()).toEqual([
      expect.objectContaining({ entraId: gid(1), kind: 'delete-group', userName: 'One', held: false }),
    ]);
  });
});

/** The PostgreSQL database at `url` read with plain SQL, as test/support/stores.ts's testStore does. */
async function pgView(url: string): Promise<TestStore> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const query = async <R>(text: string, params: unknown[] = []) => {
    let n = 0;
    const converted = text.replace(/\bt\./g, 'entrasync.').replace(/\?/g, () => `$${++n}`);
    return (await pool.query(converted, params)).rows as R[];
  };
  return {
    kind: 'postgres',
    db: url,
    query,
    users: () => query('SELECT * FROM t.users ORDER BY user_name'),
    close: () => pool.end(),
  };
}
