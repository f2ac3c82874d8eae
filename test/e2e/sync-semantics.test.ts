/**
 * The provisioning semantics of one cycle and the next (graph-semantics §6.4–§6.6), end to end:
 * emulator over HTTPS, real msal-node and Graph client, real SQLite store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
});
afterEach(async () => {
  h?.close();
  await emu.close();
});

const user = (upn: string, extra: Record<string, unknown> = {}) => createEnabledUser(emu, upn, extra);

function activeOf(userName: string): number | undefined {
  return h.row(userName)?.active;
}

describe('initial cycle', () => {
  it('provisions exactly the directly assigned users and the direct members of assigned groups', async () => {
    const direct = user('direct@contoso.com');
    const member = user('member@contoso.com');
    const nested = user('nested@contoso.com');
    user('unassigned@contoso.com');
    const disabled = user('disabled@contoso.com', { accountEnabled: false });
    const group = emu.tenant.createGroup({ displayName: 'App users', members: [member.id] });
    const inner = emu.tenant.createGroup({ displayName: 'Nested', members: [nested.id] });
    emu.tenant.addMember(group.id, inner.id);
    emu.tenant.assign(direct.id, 'User');
    emu.tenant.assign(group.id, 'Group');
    emu.tenant.assign(disabled.id, 'User');

    h = syncHarness(emu);
    const result = await h.sync();

    expect(result.status).toBe('succeeded');
    expect(result.kind).toBe('initial');
    expect(h.rows().map((r) => [r.user_name, r.external_id, r.active, r.email])).toEqual([
      ['direct@contoso.com', direct.id, 1, 'direct@contoso.com'],
      ['member@contoso.com', member.id, 1, 'member@contoso.com'],
    ]);
    expect(result.counts.create).toBe(2);
    const scim = JSON.parse(h.row('direct@contoso.com')!.scim);
    expect(scim).toMatchObject({ userName: 'direct@contoso.com', displayName: 'direct', active: true });
    expect(scim.emails).toEqual([expect.objectContaining({ type: 'work', value: 'direct@contoso.com' })]);
  });

  it('expands nested groups when configured', async () => {
    const nested = user('nested@contoso.com');
    const group = emu.tenant.createGroup({ displayName: 'Outer' });
    const inner = emu.tenant.createGroup({ displayName: 'Inner', members: [nested.id] });
    emu.tenant.addMember(group.id, inner.id);
    emu.tenant.assign(group.id, 'Group');
    h = syncHarness(emu, { settings: { scope: { expandNestedGroups: true } } });
    await h.sync();
    expect(h.rows().map((r) => r.user_name)).toEqual(['nested@contoso.com']);
  });

  it('takes every user with ENTRASYNC_SCOPE=all', async () => {
    user('a@contoso.com');
    user('b@contoso.com');
    user('c@contoso.com', { accountEnabled: false });
    h = syncHarness(emu, { env: { ENTRASYNC_SCOPE: 'all' } });
    await h.sync();
    expect(h.rows().map((r) => r.user_name)).toEqual(['a@contoso.com', 'b@contoso.com']);
  });

  it('links a pre-existing local row with the same userName (case-insensitive) instead of duplicating it', async () => {
    const alice = user('Alice@Contoso.com');
    emu.tenant.assign(alice.id, 'User');
    h = syncHarness(emu);
    h.rt.store.db
      .prepare(
        `INSERT INTO users (user_name, display_name, active) VALUES ('alice@contoso.com', 'Local Alice', 1)`,
      )
      .run();
    const localId = h.rows()[0]!.id;
    const result = await h.sync();
    expect(result.counts.link).toBe(1);
    const rows = h.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: localId,
      external_id: alice.id,
      user_name: 'Alice@Contoso.com',
      display_name: 'Alice',
    });
  });

  it('fails only the user whose userName belongs to another linked row', async () => {
    const first = user('dup@contoso.com');
    const other = user('other@contoso.com');
    emu.tenant.assign(first.id, 'User');
    emu.tenant.assign(other.id, 'User');
    h = syncHarness(emu);
    await h.sync();
    const second = user('second@contoso.com');
    emu.tenant.assign(second.id, 'User');
    emu.tenant.updateUser(second.id, { userPrincipalName: 'DUP@contoso.com' });
    const result = await h.sync();
    expect(result.status).toBe('succeeded');
    expect(result.counts.error).toBe(1);
    expect(
      h
        .rows()
        .map((r) => r.external_id)
        .sort(),
    ).toEqual([first.id, other.id].sort());
    const audit = h.rt.store.tables.audit.query({ action: 'error' });
    expect(audit[0]).toMatchObject({ entraId: second.id, status: 'failure' });
    expect(audit[0]!.reason).toMatch(/already belongs to another Entra user/);
  });

  it('a write the store rejects fails that user only; the rest of its batch is written once', async () => {
    const names = ['ann', 'ben', 'bad', 'cid', 'dee'].map((n) => `${n}@contoso.com`);
    for (const upn of names) emu.tenant.assign(user(upn).id, 'User');
    h = syncHarness(emu);
    // The application's own rule, as a trigger: the batch's shared savepoint fails and every user
    // is written again on its own.
    h.rt.store.db.exec(`CREATE TRIGGER no_bad BEFORE INSERT ON users WHEN NEW.user_name LIKE 'bad@%'
      BEGIN SELECT RAISE(ABORT, 'bad is not welcome'); END`);
    const result = await h.sync();
    expect(result.counts).toMatchObject({ create: 4, error: 1 });
    expect(h.rows().map((r) => r.user_name)).toEqual(names.filter((n) => !n.startsWith('bad')).sort());
    const audit = h.rt.store.tables.audit.query({ limit: 100 });
    expect(audit.filter((a) => a.action === 'create')).toHaveLength(4);
    expect(audit.filter((a) => a.action === 'error')).toEqual([
      expect.objectContaining({
        userName: 'bad@contoso.com',
        status: 'failure',
        reason: expect.stringContaining('bad is not welcome'),
      }),
    ]);
    expect(h.rt.store.tables.pending.failingCount()).toBe(1);
  });

  it('pages through many pages and stores the deltaLink only at the end', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const u = user(`u${String(i).padStart(2, '0')}@contoso.com`);
      emu.tenant.assign(u.id, 'User');
      ids.push(u.id);
    }
    h = syncHarness(emu);
    const result = await h.sync();
    expect(result.status).toBe('succeeded');
    expect(h.rows()).toHaveLength(20);
    expect(h.rt.store.tables.state.get('users_delta_link')).toMatch(/deltatoken/i);
  });

  it('an assignment listing of many pages of 999 is applied in full, and its changes later', async () => {
    const { first } = emu.tenant.bulkCreateUsers(12_500, { assignEvery: 1 });
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'tenant' } });
    const initial = await h.sync();
    expect(initial.status).toBe('succeeded');
    const count = (sql: string) => (h.rt.store.db.prepare(sql).get() as { n: number }).n;
    expect(count("SELECT count(*) AS n FROM assignments WHERE principal_type = 'User'")).toBe(12_500);
    // Users disabled in Entra are not created, as Entra does not; every other one is.
    expect(initial.counts.create).toBeGreaterThan(12_000);
    expect(count('SELECT count(*) AS n FROM users')).toBe(initial.counts.create);
    const inactiveBefore = count('SELECT count(*) AS n FROM users WHERE active = 0');
    // One active user unassigned early in the listing, one late (on the 13th page): both disabled.
    const isActive = (slot: number) =>
      h.rt.store.tables.users.findByExternalId(emu.tenant.userIdAt(first + slot))?.active === true;
    const early = [3, 4, 5, 6, 7].find(isActive)!;
    const late = [12_400, 12_401, 12_402, 12_403, 12_404].find(isActive)!;
    for (const slot of [early, late]) emu.tenant.unassign(emu.tenant.userIdAt(first + slot));
    const next = await h.sync();
    expect(next.counts).toMatchObject({ disable: 2, create: 0 });
    expect(count("SELECT count(*) AS n FROM assignments WHERE principal_type = 'User'")).toBe(12_498);
    expect(count('SELECT count(*) AS n FROM users WHERE active = 0')).toBe(inactiveBefore + 2);
    expect(isActive(early) || isActive(late)).toBe(false);
  }, 60_000);
});

describe('incremental cycles: the deprovisioning matrix', () => {
  let alice: { id: string };
  let bob: { id: string };
  let carol: { id: string };
  let group: { id: string };

  beforeEach(async () => {
    alice = user('alice@contoso.com');
    bob = user('bob@contoso.com');
    carol = user('carol@contoso.com');
    group = emu.tenant.createGroup({ displayName: 'App', members: [carol.id] });
    emu.tenant.assign(alice.id, 'User');
    emu.tenant.assign(bob.id, 'User');
    emu.tenant.assign(group.id, 'Group');
    h = syncHarness(emu);
    const first = await h.sync();
    expect(first.counts.create).toBe(3);
  });

  it('a second cycle with no change writes nothing', async () => {
    const before = h.rows();
    const auditBefore = h.rt.store.tables.audit.query({ limit: 1000 }).length;
    const result = await h.sync();
    expect(result.kind).toBe('incremental');
    expect(result.counts).toMatchObject({ create: 0, update: 0, disable: 0, enable: 0, delete: 0, error: 0 });
    expect(h.rows()).toEqual(before);
    expect(h.rt.store.tables.audit.query({ limit: 1000 })).toHaveLength(auditBefore);
  });

  it('an unassign and an assign in one cycle (the same number of assignments) are both applied', async () => {
    const dave = user('dave@contoso.com');
    const digestBefore = h.rt.store.tables.state.get('assignments_digest');
    expect(digestBefore).toMatch(/^3:/);
    emu.tenant.unassign(bob.id);
    emu.tenant.assign(dave.id, 'User');
    const r = await h.sync();
    expect(r.counts).toMatchObject({ create: 1, disable: 1 });
    expect(activeOf('bob@contoso.com')).toBe(0);
    expect(activeOf('dave@contoso.com')).toBe(1);
    const assigned = h.rt.store.db
      .prepare("SELECT principal_id FROM assignments WHERE principal_type = 'User' ORDER BY 1")
      .pluck()
      .all();
    expect(assigned).toEqual([alice.id, dave.id].sort());
    const digestAfter = h.rt.store.tables.state.get('assignments_digest');
    expect(digestAfter).toMatch(/^3:/);
    expect(digestAfter).not.toBe(digestBefore);
    // The same listing again: recognised by its digest, nothing pending, nothing written.
    const again = await h.sync();
    expect(again.counts).toMatchObject({ create: 0, update: 0, disable: 0, enable: 0 });
    expect(h.rt.store.tables.state.get('assignments_digest')).toBe(digestAfter);
    expect(h.rt.store.tables.pending.count()).toBe(0);
  });

  it('unassign disables; a later hard delete of that user sends nothing further', async () => {
    emu.tenant.unassign(alice.id);
    let r = await h.sync();
    expect(r.counts.disable).toBe(1);
    expect(activeOf('alice@contoso.com')).toBe(0);
    emu.tenant.hardDeleteUser(alice.id);
    r = await h.sync();
    expect(r.counts.delete).toBe(0);
    expect(activeOf('alice@contoso.com')).toBe(0);
  });

  it('removal from the assigned group disables; adding back re-enables the same row', async () => {
    const id = h.row('carol@contoso.com')!.id;
    emu.tenant.removeMember(group.id, carol.id);
    await h.sync();
    expect(activeOf('carol@contoso.com')).toBe(0);
    emu.tenant.addMember(group.id, carol.id);
    const r = await h.sync();
    expect(r.counts.enable).toBe(1);
    expect(h.row('carol@contoso.com')).toMatchObject({ id, active: 1 });
  });

  it('accountEnabled=false disables, true enables', async () => {
    emu.tenant.updateUser(bob.id, { accountEnabled: false });
    await h.sync();
    expect(activeOf('bob@contoso.com')).toBe(0);
    emu.tenant.updateUser(bob.id, { accountEnabled: true });
    await h.sync();
    expect(activeOf('bob@contoso.com')).toBe(1);
  });

  it('soft delete disables, restore re-enables the same row, hard delete deletes', async () => {
    const id = h.row('bob@contoso.com')!.id;
    emu.tenant.softDeleteUser(bob.id);
    let r = await h.sync();
    expect(r.counts.disable).toBe(1);
    expect(h.row('bob@contoso.com')).toMatchObject({ id, active: 0 });
    emu.tenant.restoreUser(bob.id);
    r = await h.sync();
    expect(r.counts.enable).toBe(1);
    expect(h.row('bob@contoso.com')).toMatchObject({ id, active: 1 });
    emu.tenant.softDeleteUser(bob.id);
    emu.tenant.hardDeleteUser(bob.id);
    r = await h.sync();
    expect(r.counts.delete).toBe(1);
    expect(h.row('bob@contoso.com')).toBeUndefined();
    const deletes = h.rt.store.tables.audit.query({ action: 'delete' });
    expect(deletes.map((e) => e.entraId)).toEqual([bob.id]);
  });

  it('hard delete with the delete action off leaves the row', async () => {
    h.close();
    h = syncHarness(emu, {
      dir: h.dir,
      settings: { targetActions: { create: true, update: true, delete: false } },
    });
    await h.sync(); // the target actions changed: a new initial cycle
    emu.tenant.hardDeleteUser(bob.id);
    const r = await h.sync();
    expect(r.counts.delete).toBe(0);
    expect(h.row('bob@contoso.com')).toBeDefined();
  });

  it('a UPN rename updates the same row; a cleared mail keeps the stored email', async () => {
    const id = h.row('alice@contoso.com')!.id;
    emu.tenant.updateUser(alice.id, { userPrincipalName: 'alice.smith@contoso.com', mail: null });
    const r = await h.sync();
    expect(r.counts.update).toBe(1);
    expect(h.row('alice.smith@contoso.com')).toMatchObject({ id, email: 'alice@contoso.com', active: 1 });
    expect(h.row('alice@contoso.com')).toBeUndefined();
    const [entry] = h.rt.store.tables.audit.query({ action: 'update' });
    expect(entry!.modified).toEqual([
      { target: 'userName', oldValue: 'alice@contoso.com', newValue: 'alice.smith@contoso.com' },
    ]);
  });

  it('a newly assigned existing user is created; a disabled one is not', async () => {
    const dave = user('dave@contoso.com');
    const erin = user('erin@contoso.com', { accountEnabled: false });
    await h.sync();
    emu.tenant.assign(dave.id, 'User');
    emu.tenant.assign(erin.id, 'User');
    const r = await h.sync();
    expect(r.counts.create).toBe(1);
    expect(h.row('dave@contoso.com')).toMatchObject({ external_id: dave.id, active: 1 });
    expect(h.row('erin@contoso.com')).toBeUndefined();
  });

  it('a dry run reports the plan and writes nothing, not even the delta link', async () => {
    emu.tenant.unassign(alice.id);
    emu.tenant.updateUser(bob.id, { displayName: 'Robert' });
    const before = h.rows();
    const link = h.rt.store.tables.state.get('users_delta_link');
    const cyclesBefore = h.rt.store.tables.cycles.recent(100).length;
    const seen: string[] = [];
    const r = await h.sync({ dryRun: true, onAction: (a) => seen.push(a.kind) });
    expect(r.counts).toMatchObject({ disable: 1, update: 1 });
    expect(seen).toEqual(expect.arrayContaining(['disable', 'update']));
    expect(h.rows()).toEqual(before);
    expect(h.rt.store.tables.state.get('users_delta_link')).toBe(link);
    expect(h.rt.store.tables.cycles.recent(100)).toHaveLength(cyclesBefore);
    const real = await h.sync();
    expect(real.counts).toMatchObject({ disable: 1, update: 1 });
  });

  it('a resync after changes made while nothing watched reconciles every user', async () => {
    emu.tenant.unassign(alice.id);
    emu.tenant.softDeleteUser(bob.id);
    emu.tenant.updateUser(carol.id, { displayName: 'Caroline' });
    const frank = user('frank@contoso.com');
    emu.tenant.assign(frank.id, 'User');
    const r = await h.sync({ forced: true });
    expect(r.kind).toBe('forced');
    expect(r.status).toBe('succeeded');
    expect(h.rows().map((x) => [x.user_name, x.active, x.display_name])).toEqual([
      ['alice@contoso.com', 0, 'alice'],
      ['bob@contoso.com', 0, 'bob'],
      ['carol@contoso.com', 1, 'Caroline'],
      ['frank@contoso.com', 1, 'frank'],
    ]);
  });
});
