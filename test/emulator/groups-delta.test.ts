import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { bearer, deltaRound, graphClient, rawGet, rawRound, type Item } from './helpers.js';

let emu: RunningEmulator;
beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 4, memberPageSize: 5 });
});
afterEach(() => emu.close());

type Ref = { '@odata.type': string; id: string; '@removed'?: { reason: string } };
const users = (n: number, p = 'u') =>
  Array.from({ length: n }, (_, k) =>
    emu.tenant.createUser({ userPrincipalName: `${p}${k}@contoso.com`, displayName: `${p}${k}` }),
  );
const userRef = (id: string): Ref => ({ '@odata.type': '#microsoft.graph.user', id });
const removedRef = (id: string): Ref => ({ ...userRef(id), '@removed': { reason: 'deleted' } });

/** Merge members@delta per group across pages, as a client must. */
function membersOf(items: Item[], groupId: string): Ref[] {
  return items
    .filter((i) => i.id === groupId)
    .flatMap((i) => (i['members@delta'] as Ref[] | undefined) ?? []);
}

describe('groups/delta', () => {
  it('initial round lists current members; empty groups carry no members@delta; nested groups are typed', async () => {
    const [a, b, c] = users(3);
    const inner = emu.tenant.createGroup({ displayName: 'Inner', members: [c!.id] });
    const outer = emu.tenant.createGroup({ displayName: 'Outer', members: [a!.id, b!.id] });
    emu.tenant.addMember(outer.id, inner.id);
    const empty = emu.tenant.createGroup({ displayName: 'Empty' });
    const r = await deltaRound(graphClient(emu), '/groups/delta', { select: 'displayName,members' });
    expect(membersOf(r.items, outer.id)).toEqual([
      userRef(a!.id),
      userRef(b!.id),
      { '@odata.type': '#microsoft.graph.group', id: inner.id },
    ]);
    expect(r.items.find((i) => i.id === empty.id)).toEqual({ displayName: 'Empty', id: empty.id });
    expect(r.items.find((i) => i.id === inner.id)).toEqual({
      displayName: 'Inner',
      id: inner.id,
      'members@delta': [userRef(c!.id)],
    });
  });

  it('splits a large group over consecutive pages, the same object repeated with a slice each', async () => {
    const us = users(12);
    const big = emu.tenant.createGroup({ displayName: 'Big', members: us.map((u) => u.id) });
    const r = await rawRound(emu, '/v1.0/groups/delta?$select=displayName,members');
    const occurrences = r.items.filter((i) => i.id === big.id);
    expect(occurrences.length).toBe(3); // 12 members at 5 links per page
    for (const o of occurrences) expect((o['members@delta'] as Ref[]).length).toBeLessThanOrEqual(5);
    expect(membersOf(r.items, big.id)).toEqual(us.map((u) => userRef(u.id)));
    expect(r.pages.length).toBe(3);
  });

  it('incremental rounds list only membership changes; a soft-deleted member leaves, a restored one returns', async () => {
    const [a, b, c, d] = users(4);
    const g = emu.tenant.createGroup({ displayName: 'G', members: [a!.id, b!.id, c!.id] });
    const other = emu.tenant.createGroup({ displayName: 'Other' });
    const client = graphClient(emu);
    const r1 = await deltaRound(client, '/groups/delta', { select: 'displayName,members' });
    emu.tenant.addMember(g.id, d!.id);
    emu.tenant.removeMember(g.id, a!.id);
    emu.tenant.softDeleteUser(b!.id);
    emu.tenant.updateUser(c!.id, { displayName: 'renamed' }); // not a membership change
    const r2 = await deltaRound(client, r1.deltaLink, { minimal: true });
    expect(r2.items.map((i) => i.id)).toEqual([g.id]);
    expect(r2.items[0]).toEqual({
      id: g.id,
      'members@delta': [userRef(d!.id), removedRef(a!.id), removedRef(b!.id)],
    });
    expect(other).toBeDefined();

    emu.tenant.restoreUser(b!.id);
    emu.tenant.hardDeleteUser(c!.id);
    const r3 = await deltaRound(client, r2.deltaLink);
    expect(r3.items).toEqual([
      { displayName: 'G', id: g.id, 'members@delta': [userRef(b!.id), removedRef(c!.id)] },
    ]);
  });

  it('renames are tracked only when selected, deleted groups are @removed, new groups come with members', async () => {
    const [a] = users(1);
    const g1 = emu.tenant.createGroup({ displayName: 'One' });
    const g2 = emu.tenant.createGroup({ displayName: 'Two' });
    const client = graphClient(emu);
    const r1 = await deltaRound(client, '/groups/delta', { select: 'displayName,members' });
    emu.tenant.updateGroup(g1.id, { displayName: 'Uno', description: 'untracked' });
    emu.tenant.deleteGroup(g2.id);
    const g3 = emu.tenant.createGroup({ displayName: 'Three', members: [a!.id] });
    const r2 = await deltaRound(client, r1.deltaLink);
    expect(r2.items).toEqual([
      { displayName: 'Uno', id: g1.id },
      { id: g2.id, '@removed': { reason: 'deleted' } },
      { displayName: 'Three', id: g3.id, 'members@delta': [userRef(a!.id)] },
    ]);
  });

  it('without $select, members@delta is included by default', async () => {
    const [a] = users(1);
    const g = emu.tenant.createGroup({ displayName: 'G', members: [a!.id] });
    const r = await rawRound(emu, '/v1.0/groups/delta');
    expect(r.items[0]).toMatchObject({
      id: g.id,
      displayName: 'G',
      securityEnabled: true,
      'members@delta': [userRef(a!.id)],
    });
  });

  it('$filter=id eq restricts to the listed groups, at most 50', async () => {
    const gs = Array.from({ length: 5 }, (_, k) => emu.tenant.createGroup({ displayName: `G${k}` }));
    const f = `id eq '${gs[3]!.id}' or id eq '${gs[0]!.id}'`;
    const r = await rawRound(emu, `/v1.0/groups/delta?$select=displayName&$filter=${encodeURIComponent(f)}`);
    expect(r.items.map((i) => i.id)).toEqual([gs[3]!.id, gs[0]!.id]);
    const many = Array.from({ length: 51 }, () => `id eq '${gs[0]!.id}'`).join(' or ');
    expect(
      (await rawGet(emu, `/v1.0/groups/delta?$filter=${encodeURIComponent(many)}`, bearer(emu))).status,
    ).toBe(400);
  });

  it('large incremental membership changes are split too', async () => {
    const g = emu.tenant.createGroup({ displayName: 'G' });
    const r1 = await rawRound(emu, '/v1.0/groups/delta?$select=members');
    const us = users(11);
    for (const u of us) emu.tenant.addMember(g.id, u.id);
    const r2 = await rawRound(emu, r1.deltaLink.slice(emu.url.length));
    expect(r2.items.filter((i) => i.id === g.id).length).toBe(3);
    expect(membersOf(r2.items, g.id)).toEqual(us.map((u) => userRef(u.id)));
  });
});
