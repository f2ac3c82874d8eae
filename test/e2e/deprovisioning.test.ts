/**
 * Entra's deprovisioning matrix across cycles (graph-semantics §6.4): a soft delete disables, the
 * later purge deletes (when the delete action is on); only a user who left scope while still
 * existing is released, and then nothing further is sent. Emulator over HTTPS, real store.
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

const actionsOf = (entraId: string) =>
  h.rt.store.tables.audit
    .query({ limit: 1000 })
    .filter((e) => e.entraId === entraId)
    .map((e) => e.action);

/** A directly assigned user, a member of an assigned group, and a bystander; all provisioned. */
async function provisioned(deleteAction: boolean) {
  const direct = createEnabledUser(emu, 'direct@contoso.com');
  const member = createEnabledUser(emu, 'member@contoso.com');
  const other = createEnabledUser(emu, 'other@contoso.com');
  const group = emu.tenant.createGroup({ displayName: 'App users', members: [member.id] });
  emu.tenant.assign(direct.id, 'User');
  emu.tenant.assign(other.id, 'User');
  emu.tenant.assign(group.id, 'Group');
  h = syncHarness(emu, {
    settings: { targetActions: { create: true, update: true, delete: deleteAction } },
  });
  const first = await h.sync();
  expect(first.counts.create).toBe(3);
  return { direct, member, other, group };
}

describe('soft delete, then purge', () => {
  it.each([
    ['directly assigned', 'direct@contoso.com'],
    ['member of an assigned group', 'member@contoso.com'],
  ])('a %s user: soft delete disables, the purge deletes the row', async (_, upn) => {
    const users = await provisioned(true);
    const who = upn.startsWith('direct') ? users.direct : users.member;
    emu.tenant.softDeleteUser(who.id);
    let r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(r.counts.disable).toBe(1);
    expect(h.row(upn)).toMatchObject({ active: 0 });
    // Still managed: the soft delete is not "left scope", even though its assignment is no longer listed.
    expect(h.rt.store.tables.sourceUsers.get(who.id)).toMatchObject({ softDeleted: true, released: false });

    emu.tenant.hardDeleteUser(who.id);
    r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(r.counts.delete).toBe(1);
    expect(h.row(upn)).toBeUndefined();
    expect(actionsOf(who.id)).toEqual(expect.arrayContaining(['create', 'disable', 'delete']));
    expect(h.rt.store.tables.sourceUsers.get(who.id)).toBeNull();
    expect(h.row('other@contoso.com')).toMatchObject({ active: 1 });
  });

  it('soft delete and purge in the same cycle delete the row', async () => {
    const { direct } = await provisioned(true);
    emu.tenant.softDeleteUser(direct.id);
    emu.tenant.hardDeleteUser(direct.id);
    const r = await h.sync();
    expect(r.counts.delete).toBe(1);
    expect(h.row('direct@contoso.com')).toBeUndefined();
  });

  it('with the delete action off the purge leaves the disabled row as it is', async () => {
    const { direct } = await provisioned(false);
    emu.tenant.softDeleteUser(direct.id);
    await h.sync();
    expect(h.row('direct@contoso.com')).toMatchObject({ active: 0 });
    emu.tenant.hardDeleteUser(direct.id);
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(r.counts.delete).toBe(0);
    expect(h.row('direct@contoso.com')).toMatchObject({ active: 0 });
    expect(
      h.rt.store.tables.audit
        .query({ limit: 1000 })
        .some((e) => e.entraId === direct.id && /delete action is off/.test(e.reason ?? '')),
    ).toBe(true);
  });

  it('a full enumeration (resync) after the soft delete still deletes on purge', async () => {
    const { direct } = await provisioned(true);
    emu.tenant.softDeleteUser(direct.id);
    await h.sync();
    const resync = await h.sync({ forced: true });
    expect(resync.status).toBe('succeeded');
    expect(h.row('direct@contoso.com')).toMatchObject({ active: 0 });
    emu.tenant.hardDeleteUser(direct.id);
    const r = await h.sync();
    expect(r.counts.delete).toBe(1);
    expect(h.row('direct@contoso.com')).toBeUndefined();
  });

  it('a restore after the soft delete re-activates the same row', async () => {
    const { direct } = await provisioned(true);
    const id = h.row('direct@contoso.com')!.id;
    emu.tenant.softDeleteUser(direct.id);
    await h.sync();
    emu.tenant.restoreUser(direct.id);
    const r = await h.sync();
    expect(r.counts.enable).toBe(1);
    expect(h.row('direct@contoso.com')).toMatchObject({ id, active: 1 });
  });
});

describe('left scope while still existing', () => {
  it('unassigned: disabled and released; the later soft delete and purge send nothing', async () => {
    const { direct } = await provisioned(true);
    emu.tenant.unassign(direct.id);
    let r = await h.sync();
    expect(r.counts.disable).toBe(1);
    expect(h.rt.store.tables.sourceUsers.get(direct.id)).toMatchObject({ released: true });
    emu.tenant.softDeleteUser(direct.id);
    r = await h.sync();
    expect(r.counts.disable).toBe(0); // already disabled, and no longer managed
    emu.tenant.hardDeleteUser(direct.id);
    r = await h.sync();
    expect(r.counts.delete).toBe(0);
    expect(h.row('direct@contoso.com')).toMatchObject({ active: 0 });
    expect(actionsOf(direct.id)).not.toContain('delete');
  });

  it('removed from the assigned group: disabled and released; the purge sends nothing', async () => {
    const { member, group } = await provisioned(true);
    emu.tenant.removeMember(group.id, member.id);
    let r = await h.sync();
    expect(r.counts.disable).toBe(1);
    expect(h.rt.store.tables.sourceUsers.get(member.id)).toMatchObject({ released: true });
    emu.tenant.hardDeleteUser(member.id);
    r = await h.sync();
    expect(r.counts.delete).toBe(0);
    expect(h.row('member@contoso.com')).toMatchObject({ active: 0 });
  });
});
