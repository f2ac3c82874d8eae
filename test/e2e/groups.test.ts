/**
 * Group provisioning end to end (issue 16): the engine against the emulator over HTTPS, on both
 * stores, the application's `groups` and `group_members` read with plain SQL; the built CLI where
 * the command's output is the point (export, provision, dry run, a bad setting).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { runCli, writeSettings } from '../support/harness.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

interface GroupRow {
  id: string;
  external_id: string | null;
  display_name: string;
  scim: string;
}

let emu: RunningEmulator;
let h: StoreHarness;
/** The harness that owns the store when `reopen` put another runtime on it. */
let owner: StoreHarness | undefined;

/** Another runtime (other settings) on the same store; the old runtime is closed. */
async function reopen(kind: (typeof STORE_KINDS)[number], options: Parameters<typeof storeHarness>[2]) {
  owner ??= h;
  const old = h;
  h = await storeHarness(emu, kind, { ...options, sameStoreAs: owner });
  if (old !== owner) await old.close();
  else await old.rt.close();
}

describe.each(STORE_KINDS)('groups on %s', (kind) => {
  let ada: string, bob: string, cyd: string, dan: string;

  beforeEach(async () => {
    emu = await startTestEmulator({ pageSize: 3 });
    ada = createEnabledUser(emu, 'ada@contoso.com').id;
    bob = createEnabledUser(emu, 'bob@contoso.com').id;
    cyd = createEnabledUser(emu, 'cyd@contoso.com').id;
    dan = createEnabledUser(emu, 'dan@contoso.com').id;
  });
  afterEach(async () => {
    if (owner && owner !== h) {
      await h.close();
      await owner.store.close();
    } else await h?.close();
    owner = undefined;
    await emu.close();
  });

  const groups = () => h.store.query<GroupRow>('SELECT * FROM t.groups ORDER BY display_name');
  const members = async (groupId: string) =>
    (
      await h.store.query<{ user_name: string }>(
        'SELECT u.user_name FROM t.group_members m JOIN t.users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.user_name',
        [groupId],
      )
    ).map((r) => r.user_name);
  const memberCount = async () =>
    Number((await h.store.query<{ n: number }>('SELECT count(*) AS n FROM t.group_members'))[0]!.n);
  const groupAudit = (cycleId: string) =>
    h.store.query<{ action: string; reason_code: string; group_name: string; user_name: string | null }>(
      `SELECT action, reason_code, group_name, user_name FROM t.audit WHERE cycle_id = ? AND object_type = 'group' ORDER BY seq`,
      [cycleId],
    );

  it('an assigned group is created with its members; a rename keeps the local id; a removed member loses exactly that membership', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada, bob, cyd] });
    emu.tenant.assign(eng.id, 'Group');
    h = await storeHarness(emu, kind);
    const first = await h.sync();
    expect(first.status).toBe('succeeded');
    expect(first.groupCounts).toMatchObject({ create: 1 });
    const [row] = await groups();
    expect(row).toMatchObject({ external_id: eng.id, display_name: 'Engineering' });
    expect(JSON.parse(row!.scim)).toMatchObject({ displayName: 'Engineering', externalId: eng.id });
    expect(await members(row!.id)).toEqual(['ada@contoso.com', 'bob@contoso.com', 'cyd@contoso.com']);

    emu.tenant.updateGroup(eng.id, { displayName: 'Platform' });
    emu.tenant.removeMember(eng.id, bob);
    const second = await h.sync();
    expect(second.status).toBe('succeeded');
    const after = await groups();
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: row!.id, external_id: eng.id, display_name: 'Platform' });
    expect(await members(row!.id)).toEqual(['ada@contoso.com', 'cyd@contoso.com']);
    // bob left the only group that gave it scope: disabled, not deleted.
    expect((await h.row('bob@contoso.com'))?.active).toBe(0);
    const audit = await groupAudit(second.cycleId);
    expect(audit.map((a) => [a.action, a.reason_code])).toEqual(
      expect.arrayContaining([
        ['update', 'attributes-changed'],
        ['remove-member', 'member-removed'],
      ]),
    );
    expect(audit.filter((a) => a.action === 'remove-member')).toEqual([
      expect.objectContaining({ user_name: 'bob@contoso.com', group_name: 'Platform' }),
    ]);
    expect(audit.filter((a) => a.action === 'add-member')).toEqual([]);
  });

  it('a member disabled in Entra keeps its membership (active = 0); a member deleted from the store loses it', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada, bob, cyd] });
    emu.tenant.assign(eng.id, 'Group');
    h = await storeHarness(emu, kind);
    await h.sync();
    const [row] = await groups();
    emu.tenant.updateUser(ada, { accountEnabled: false });
    emu.tenant.hardDeleteUser(bob);
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect((await h.row('ada@contoso.com'))?.active).toBe(0);
    expect(await h.row('bob@contoso.com')).toBeUndefined();
    expect(await members(row!.id)).toEqual(['ada@contoso.com', 'cyd@contoso.com']);
  });

  it('a mapped group property is selected from groups/delta and follows changes; a member change alone writes no group update', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', description: 'builds', members: [ada] });
    emu.tenant.assign(eng.id, 'Group');
    const EXT = 'urn:example:params:scim:schemas:extension:app:2.0:Group';
    h = await storeHarness(emu, kind, {
      settings: {
        groups: {
          mappings: [
            { target: 'displayName', direct: 'displayName', matchingPrecedence: 1 },
            { target: 'externalId', direct: 'objectId' },
            { target: 'members', direct: 'members' },
            { target: `${EXT}:description`, expression: 'ToUpper([description])' },
          ],
        },
      },
    });
    await h.sync();
    const scim = async () => JSON.parse((await groups())[0]!.scim) as Record<string, unknown>;
    expect(await scim()).toMatchObject({
      schemas: expect.arrayContaining([EXT]),
      [EXT]: { description: 'BUILDS' },
    });

    emu.tenant.addMember(eng.id, bob);
    const membersOnly = await h.sync();
    expect(membersOnly.groupCounts).toMatchObject({ update: 0, addMember: 1 });
    emu.tenant.updateGroup(eng.id, { description: 'ships' });
    const changed = await h.sync();
    expect(changed.groupCounts).toMatchObject({ update: 1 });
    expect(await scim()).toMatchObject({ displayName: 'Engineering', [EXT]: { description: 'SHIPS' } });
    expect(await groupAudit(changed.cycleId)).toEqual([
      expect.objectContaining({ action: 'update', reason_code: 'attributes-changed' }),
    ]);
  });

  it('a group unassigned from the application disappears with its memberships, and the audit says why', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada, bob] });
    const ops = emu.tenant.createGroup({ displayName: 'Operations', members: [ada] });
    emu.tenant.assign(eng.id, 'Group');
    emu.tenant.assign(ops.id, 'Group');
    h = await storeHarness(emu, kind);
    await h.sync();
    expect((await groups()).map((g) => g.display_name)).toEqual(['Engineering', 'Operations']);
    expect(await memberCount()).toBe(3);

    emu.tenant.unassign(eng.id);
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect((await groups()).map((g) => g.display_name)).toEqual(['Operations']);
    expect(await memberCount()).toBe(1);
    expect(await groupAudit(r.cycleId)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'delete', reason_code: 'unassigned', group_name: 'Engineering' }),
      ]),
    );
    // ada is still in scope through Operations; bob is not.
    expect((await h.row('ada@contoso.com'))?.active).toBe(1);
    expect((await h.row('bob@contoso.com'))?.active).toBe(0);
  });

  it('a group deleted in Entra is removed (deleted-in-entra); with the delete action off it stays, frozen', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada] });
    const ops = emu.tenant.createGroup({ displayName: 'Operations', members: [ada] });
    emu.tenant.assign(eng.id, 'Group');
    emu.tenant.assign(ops.id, 'Group');
    h = await storeHarness(emu, kind);
    await h.sync();
    emu.tenant.deleteGroup(eng.id);
    const r = await h.sync();
    expect((await groups()).map((g) => g.display_name)).toEqual(['Operations']);
    expect(await groupAudit(r.cycleId)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'delete', reason_code: 'deleted-in-entra' }),
      ]),
    );
    await reopen(kind, {
      settings: {
        groups: {
          enabled: true,
          filter: null,
          mappings: [
            { target: 'displayName', direct: 'displayName', matchingPrecedence: 1 },
            { target: 'externalId', direct: 'objectId' },
            { target: 'members', direct: 'members' },
          ],
          targetActions: { create: true, update: true, delete: false },
        },
      },
    });
    await h.sync();
    emu.tenant.unassign(ops.id);
    emu.tenant.assign(ada, 'User');
    const kept = await h.sync();
    expect(kept.status).toBe('succeeded');
    const [row] = await groups();
    expect(row?.display_name).toBe('Operations');
    expect(await members(row!.id)).toEqual(['ada@contoso.com']);
    expect(await groupAudit(kept.cycleId)).toEqual([
      expect.objectContaining({ action: 'skip', reason_code: 'action-off' }),
    ]);
  });

  it('nested groups: direct members only by default; transitive members with expandNestedGroups', async () => {
    const outer = emu.tenant.createGroup({ displayName: 'Outer', members: [ada] });
    const inner = emu.tenant.createGroup({ displayName: 'Inner', members: [bob] });
    emu.tenant.addMember(outer.id, inner.id);
    emu.tenant.assign(outer.id, 'Group');
    emu.tenant.assign(bob, 'User');
    h = await storeHarness(emu, kind);
    await h.sync();
    // The nested group is not provisioned as a group; bob (assigned directly) is no member of Outer.
    let rows = await groups();
    expect(rows.map((g) => g.display_name)).toEqual(['Outer']);
    expect(await members(rows[0]!.id)).toEqual(['ada@contoso.com']);
    await reopen(kind, { settings: { scope: { expandNestedGroups: true } } });
    await h.sync();
    rows = await groups();
    expect(rows.map((g) => g.display_name)).toEqual(['Outer']);
    expect(await members(rows[0]!.id)).toEqual(['ada@contoso.com', 'bob@contoso.com']);
    // A member added to the nested group reaches the outer group at the next cycle.
    emu.tenant.addMember(inner.id, cyd);
    await h.sync();
    expect(await members(rows[0]!.id)).toEqual(['ada@contoso.com', 'bob@contoso.com', 'cyd@contoso.com']);
  });

  it('scope all with groups.filter: only the groups it lets through; one that stops passing is deleted', async () => {
    const readers = emu.tenant.createGroup({ displayName: 'app-readers', members: [ada, dan] });
    const writers = emu.tenant.createGroup({ displayName: 'app-writers', members: [bob] });
    emu.tenant.createGroup({ displayName: 'Finance', members: [cyd] });
    h = await storeHarness(emu, kind, {
      env: { ENTRASYNC_SCOPE: 'all' },
      settings: {
        groups: {
          enabled: true,
          filter: 'Left([displayName], 4) = "app-"',
          mappings: [
            { target: 'displayName', direct: 'displayName' },
            { target: 'externalId', direct: 'objectId' },
            { target: 'members', direct: 'members' },
          ],
          targetActions: { create: true, update: true, delete: true },
        },
      },
    });
    expect((await h.sync()).status).toBe('succeeded');
    expect((await groups()).map((g) => g.display_name)).toEqual(['app-readers', 'app-writers']);
    expect(await memberCount()).toBe(3);
    // A member change alone: the group (listed again by groups/delta) still passes the filter.
    emu.tenant.addMember(readers.id, cyd);
    await h.sync();
    expect((await groups()).map((g) => g.display_name)).toEqual(['app-readers', 'app-writers']);
    expect(await memberCount()).toBe(4);
    emu.tenant.updateGroup(writers.id, { displayName: 'writers' });
    const r = await h.sync();
    expect((await groups()).map((g) => g.display_name)).toEqual(['app-readers']);
    expect(await groupAudit(r.cycleId)).toEqual(
      expect.arrayContaining([expect.objectContaining({ action: 'delete', reason_code: 'out-of-filter' })]),
    );
  });

  it('the deletion threshold holds group deletes with the users; approve applies them', async () => {
    const a = emu.tenant.createGroup({ displayName: 'A', members: [ada] });
    const b = emu.tenant.createGroup({ displayName: 'B', members: [ada] });
    emu.tenant.assign(a.id, 'Group');
    emu.tenant.assign(b.id, 'Group');
    emu.tenant.assign(ada, 'User');
    emu.tenant.assign(bob, 'User');
    h = await storeHarness(emu, kind, {
      settings: { safety: { deletionThreshold: { enabled: true, count: 2, percent: null } } },
    });
    await h.sync();
    emu.tenant.unassign(a.id);
    emu.tenant.unassign(b.id);
    emu.tenant.unassign(bob);
    const held = await h.sync();
    expect(held.status).toBe('succeeded');
    expect(held.counts.staged).toBe(3);
    expect((await groups()).map((g) => g.display_name)).toEqual(['A', 'B']);
    const staged = await h.store.query<{ action: string; group_name: string | null }>(
      `SELECT action, group_name FROM t.audit WHERE cycle_id = ? AND action LIKE 'staged-%' ORDER BY action, group_name`,
      [held.cycleId],
    );
    expect(staged).toEqual([
      { action: 'staged-delete-group', group_name: 'A' },
      { action: 'staged-delete-group', group_name: 'B' },
      { action: 'staged-disable', group_name: null },
    ]);

    // Rejected: later cycles keep them unapplied, as the users' held changes.
    const rejected = await runCli(['reject-deletions'], h.env);
    expect(rejected.code).toBe(0);
    expect((await h.sync()).status).toBe('succeeded');
    expect((await groups()).map((g) => g.display_name)).toEqual(['A', 'B']);
    const kinds = await h.store.query<{ kind: string; rejected: number }>(
      'SELECT kind, rejected FROM t.staged_changes ORDER BY kind',
    );
    expect(kinds.map((k) => [k.kind, Number(k.rejected)])).toEqual([
      ['delete-group', 1],
      ['delete-group', 1],
      ['disable', 1],
    ]);

    const approved = await h.sync({ approve: {} });
    expect(approved.status).toBe('succeeded');
    expect(await groups()).toEqual([]);
    expect(await memberCount()).toBe(0);
    expect((await h.row('bob@contoso.com'))?.active).toBe(0);
  });

  it('a dry run writes no group and no membership, and lists the group changes', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada, bob] });
    emu.tenant.assign(eng.id, 'Group');
    h = await storeHarness(emu, kind);
    const dry = await runCli(['sync', '--dry-run', '--json'], h.env);
    expect(dry.code).toBe(0);
    const out = JSON.parse(dry.stdout) as {
      changes: Record<string, unknown>[];
      groupCounts: Record<string, number>;
    };
    expect(out.changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ object: 'group', action: 'create', displayName: 'Engineering' }),
      ]),
    );
    expect(out.groupCounts.create).toBe(1);
    expect(await groups()).toEqual([]);
    expect(await memberCount()).toBe(0);
    const text = await runCli(['sync', '--dry-run'], h.env);
    expect(text.stdout).toMatch(/create\s+group Engineering/);
    expect(await groups()).toEqual([]);
  });

  it('groups export prints a SCIM ListResponse of Group resources with their members', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada, bob] });
    const ops = emu.tenant.createGroup({ displayName: 'Operations', members: [] });
    emu.tenant.assign(eng.id, 'Group');
    emu.tenant.assign(ops.id, 'Group');
    emu.tenant.assign(cyd, 'User');
    h = await storeHarness(emu, kind);
    await h.sync();
    const r = await runCli(['groups', 'export'], h.env);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as {
      schemas: string[];
      totalResults: number;
      Resources: Record<string, unknown>[];
    };
    expect(list.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:ListResponse']);
    expect(list.totalResults).toBe(2);
    const users = await h.rows();
    const idOf = (upn: string) => users.find((u) => u.user_name === upn)!.id;
    const [engRow] = await groups();
    expect(list.Resources[0]).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      id: engRow!.id,
      externalId: eng.id,
      displayName: 'Engineering',
      members: [
        { value: idOf('ada@contoso.com'), display: 'ada@contoso.com' },
        { value: idOf('bob@contoso.com'), display: 'bob@contoso.com' },
      ].sort((x, y) => (x.value < y.value ? -1 : 1)),
      meta: { resourceType: 'Group' },
    });
    expect(list.Resources[1]).toMatchObject({ displayName: 'Operations', members: [] });
    const status = JSON.parse((await runCli(['status', '--json'], h.env)).stdout) as { groups: unknown };
    expect(status.groups).toEqual({ total: 2, linked: 2, local: 0, memberships: 2 });
    expect((await runCli(['status'], h.env)).stdout).toContain(
      'Groups in store: 2 (linked to Entra 2, local 0); memberships 2',
    );
  });

  it('provision of a group by display name or id creates it with its members now; audit --group shows it', async () => {
    h = await storeHarness(emu, kind);
    emu.tenant.assign(ada, 'User');
    emu.tenant.assign(bob, 'User');
    await h.sync();
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada, bob] });
    emu.tenant.assign(eng.id, 'Group');
    const r = await runCli(['provision', '--group', eng.id, '--json'], h.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const trace = JSON.parse(r.stdout) as { action: string; group: { members: number } };
    expect(trace).toMatchObject({ action: 'create', group: { members: 2 } });
    const [row] = await groups();
    expect(row).toMatchObject({ display_name: 'Engineering', external_id: eng.id });
    expect(await members(row!.id)).toEqual(['ada@contoso.com', 'bob@contoso.com']);

    // By display name, without --group: recognised as the group in the store.
    emu.tenant.removeMember(eng.id, bob);
    const again = await runCli(['provision', 'engineering', '--json'], h.env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ object: 'group', group: { members: 1 } });
    const audit = await runCli(['audit', '--group', 'Engineering', '--json'], h.env);
    const entries = JSON.parse(audit.stdout) as { action: string }[];
    expect(entries.map((e) => e.action).sort()).toEqual(['create', 'remove-member']);
    const text = (await runCli(['audit', '--group', eng.id], h.env)).stdout;
    expect(text).toMatch(/remove-member success\s+Engineering <- bob@contoso\.com\s+\[member-removed\]/);
    expect(text).toMatch(/create\s+success\s+group Engineering\s+\[new-assignment\]/);
  });

  it('provision by the display name of a group created since the last cycle; two groups of one name are refused, not guessed', async () => {
    h = await storeHarness(emu, kind);
    emu.tenant.assign(ada, 'User');
    await h.sync();
    const ops = emu.tenant.createGroup({ displayName: 'Night Shift', members: [ada, cyd] });
    emu.tenant.assign(ops.id, 'Group');

    // Not in the store, not yet mirrored, and no --group: a name without @ can name no user.
    const r = await runCli(['provision', 'night shift', '--json'], h.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Its members are the users in the store: ada now; cyd, in scope through it, once a cycle creates her.
    expect(JSON.parse(r.stdout)).toMatchObject({ object: 'group', action: 'create', group: { members: 1 } });
    expect((await groups()).map((g) => [g.display_name, g.external_id])).toEqual([['Night Shift', ops.id]]);
    await h.sync();
    expect(await members((await groups())[0]!.id)).toEqual(['ada@contoso.com', 'cyd@contoso.com']);

    const dup1 = emu.tenant.createGroup({ displayName: 'Auditors', members: [ada] });
    const dup2 = emu.tenant.createGroup({ displayName: 'auditors', members: [bob] });
    emu.tenant.assign(dup1.id, 'Group');
    emu.tenant.assign(dup2.id, 'Group');
    const refused = await runCli(['provision', 'Auditors'], h.env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`2 groups in Entra are named Auditors`);
    expect(refused.stdout).toContain(dup1.id);
    expect(refused.stdout).toContain(dup2.id);
    expect((await groups()).map((g) => g.display_name)).toEqual(['Night Shift']);
    const unknown = await runCli(['provision', 'Nobody Here'], h.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/no group Nobody Here in Entra .*a user by UPN or object id/);
    // By its id, either one is provisioned.
    const byId = await runCli(['provision', dup2.id, '--group', '--json'], h.env);
    expect(byId.code).toBe(0);
    expect((await groups()).map((g) => [g.display_name, g.external_id])).toEqual([
      ['Night Shift', ops.id],
      ['auditors', dup2.id],
    ]);
  });

  it('one member added to or removed from a 5,000-member group writes one membership row and one audit row', async () => {
    const { first, count } = emu.tenant.bulkCreateUsers(5_000, { prefix: 'big' });
    const ids = Array.from({ length: count }, (_, i) => emu.tenant.userIdAt(first + i));
    expect(ids).toHaveLength(5_000);
    const big = emu.tenant.createGroup({ displayName: 'Everyone', members: ids });
    emu.tenant.assign(big.id, 'Group');
    h = await storeHarness(emu, kind);
    expect((await h.sync()).status).toBe('succeeded');
    // The seeded users include disabled ones, never created: the members are the users in the store.
    const users = await h.rows();
    expect(users.length).toBeGreaterThan(4_700);
    expect(await memberCount()).toBe(users.length);

    emu.tenant.addMember(big.id, ada);
    const added = await h.sync();
    expect(added.groupCounts).toMatchObject({ addMember: 1, removeMember: 0 });
    expect(await memberCount()).toBe(users.length + 1);
    emu.tenant.removeMember(big.id, users[123]!.external_id!);
    const removed = await h.sync();
    expect(removed.groupCounts).toMatchObject({ addMember: 0, removeMember: 1 });
    expect(await memberCount()).toBe(users.length);
    const rows = await h.store.query<{ action: string; user_name: string }>(
      `SELECT action, user_name FROM t.audit WHERE cycle_id IN (?, ?) AND object_type = 'group' ORDER BY seq`,
      [added.cycleId, removed.cycleId],
    );
    expect(rows.map((r) => [r.action, r.user_name])).toEqual([
      ['add-member', 'ada@contoso.com'],
      ['remove-member', users[123]!.user_name],
    ]);
  }, 120_000);

  it('groups.enabled: false provisions no group; the users in scope through a group still come', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada, bob] });
    emu.tenant.assign(eng.id, 'Group');
    h = await storeHarness(emu, kind, { settings: { groups: { enabled: false } } });
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect((await h.rows()).map((u) => u.user_name)).toEqual(['ada@contoso.com', 'bob@contoso.com']);
    expect(await groups()).toEqual([]);
    expect(await memberCount()).toBe(0);
    emu.tenant.removeMember(eng.id, bob);
    expect((await h.sync()).status).toBe('succeeded');
    expect((await h.row('bob@contoso.com'))?.active).toBe(0);
    expect(await groups()).toEqual([]);
  });

  it('a bad group setting names itself and exits 2', async () => {
    h = await storeHarness(emu, kind);
    writeSettings(h.dir, {
      groups: {
        mappings: [{ target: 'displayName', direct: 'displayNmae' }],
        filter: 'Left([displayName], 1) = "a"',
      },
    });
    const r = await runCli(['sync'], h.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /groups\.mappings\[0\]\.direct: .*unknown source attribute "displayNmae" \(did you mean "displayName"\?\)/,
    );
    expect(r.stderr).toMatch(/groups\.filter: applies only with ENTRASYNC_SCOPE=all/);
  });
});
