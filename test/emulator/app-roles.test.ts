/**
 * App roles in the emulator: roles with values on the service principal, several assignments per
 * principal, and role changes, as the Graph client reads them from appRoleAssignedTo.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { graphClient, type Item } from './helpers.js';

let emu: RunningEmulator;
beforeEach(async () => {
  emu = await startTestEmulator({ assignmentPageSize: 2 });
});
afterEach(() => emu.close());

const ADMIN = '11111111-1111-4111-8111-111111111111';
const READER = '22222222-2222-4222-8222-222222222222';
const AUDITOR = '33333333-3333-4333-8333-333333333333';
const DEFAULT_ACCESS = '00000000-0000-0000-0000-000000000000';

const ctl = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${emu.url}/_ctl${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

/** Every page of the listing, through the Graph client: [principalId, appRoleId] pairs, sorted. */
async function listing(): Promise<[string, string][]> {
  const client = graphClient(emu);
  let next: string | undefined = `/servicePrincipals/${emu.servicePrincipalId}/appRoleAssignedTo`;
  const all: Item[] = [];
  while (next) {
    const page = (await client.api(next).get()) as { value: Item[]; '@odata.nextLink'?: string };
    all.push(...page.value);
    next = page['@odata.nextLink'];
  }
  return all
    .map((a): [string, string] => [String(a.principalId), String(a.appRoleId)])
    .sort((x, y) => (x.join() < y.join() ? -1 : 1));
}

describe('app roles and appRoleAssignedTo', () => {
  it('app roles with values, set through /_ctl/appRoles, show on the service principal', async () => {
    const set = await ctl('POST', '/appRoles', {
      appRoles: [
        { id: ADMIN, value: 'Admin', displayName: 'Administrator' },
        { id: READER, value: 'Reader', displayName: 'Reader' },
      ],
    });
    expect(set.status).toBe(200);
    const sp = (await graphClient(emu)
      .api(`/servicePrincipals(appId='${emu.clientId}')`)
      .select('id,appRoles')
      .get()) as { appRoles: Record<string, unknown>[] };
    expect(sp.appRoles.map((r) => [r.id, r.value, r.displayName, r.isEnabled])).toEqual([
      [ADMIN, 'Admin', 'Administrator', true],
      [READER, 'Reader', 'Reader', true],
    ]);
  });

  it('a principal holds several assignments, one per role, each listed', async () => {
    const u = emu.tenant.createUser({ userPrincipalName: 'multi@contoso.com' });
    const g = emu.tenant.createGroup({ displayName: 'Team', members: [u.id] });
    expect((await ctl('POST', '/assignments', { principalId: u.id, principalType: 'User' })).status).toBe(
      201,
    );
    const admin = await ctl('POST', '/assignments', {
      principalId: u.id,
      principalType: 'User',
      appRoleId: ADMIN,
    });
    const reader = emu.tenant.assign(u.id, 'User', READER);
    emu.tenant.assign(g.id, 'Group', READER);
    emu.tenant.assign(g.id, 'Group', AUDITOR);
    // The same role again is the same assignment, not a second one.
    expect(emu.tenant.assign(u.id, 'User', READER).id).toBe(reader.id);
    expect(admin.body.id).not.toBe(reader.id);
    expect(await listing()).toEqual(
      [
        [u.id, DEFAULT_ACCESS],
        [u.id, ADMIN],
        [u.id, READER],
        [g.id, READER],
        [g.id, AUDITOR],
      ].sort((x, y) => (x.join() < y.join() ? -1 : 1)),
    );
  });

  it('a role change (unassign one role, assign another) shows in the next listing; unassign without a role drops all', async () => {
    const u = emu.tenant.createUser({ userPrincipalName: 'change@contoso.com' });
    const v = emu.tenant.createUser({ userPrincipalName: 'keep@contoso.com' });
    emu.tenant.assign(u.id, 'User', ADMIN);
    emu.tenant.assign(u.id, 'User', READER);
    emu.tenant.assign(v.id, 'User', ADMIN);
    expect((await ctl('DELETE', `/assignments/${u.id}/${ADMIN}`)).status).toBe(200);
    emu.tenant.assign(u.id, 'User', AUDITOR);
    const sorted = (l: [string, string][]) => l.sort((x, y) => (x.join() < y.join() ? -1 : 1));
    expect(await listing()).toEqual(
      sorted([
        [u.id, READER],
        [u.id, AUDITOR],
        [v.id, ADMIN],
      ]),
    );
    // A role the principal does not have: 404, and nothing else goes.
    expect((await ctl('DELETE', `/assignments/${u.id}/${ADMIN}`)).status).toBe(404);
    expect((await ctl('DELETE', `/assignments/${u.id}`)).status).toBe(200);
    expect(await listing()).toEqual([[v.id, ADMIN]]);
    // A hard-deleted principal's assignments all go with it.
    emu.tenant.assign(u.id, 'User', READER);
    emu.tenant.assign(u.id, 'User', AUDITOR);
    emu.tenant.hardDeleteUser(u.id);
    expect(await listing()).toEqual([[v.id, ADMIN]]);
  });

  it('a bulk user keeps its default access when given another role; unassigning that role keeps it too', async () => {
    const bulk = emu.tenant.bulkCreateUsers(3, { assignEvery: 1 });
    const id = emu.tenant.userIdAt(bulk.first + 1);
    emu.tenant.assign(id, 'User', ADMIN);
    expect((await listing()).filter(([p]) => p === id)).toEqual([
      [id, DEFAULT_ACCESS],
      [id, ADMIN],
    ]);
    emu.tenant.unassign(id, ADMIN);
    expect((await listing()).filter(([p]) => p === id)).toEqual([[id, DEFAULT_ACCESS]]);
    emu.tenant.unassign(id, DEFAULT_ACCESS);
    expect((await listing()).filter(([p]) => p === id)).toEqual([]);
    expect((await listing()).length).toBe(2);
  });
});
