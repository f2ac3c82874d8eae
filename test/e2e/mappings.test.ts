/** A non-default mapping table, end to end against the emulator. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const mappings = [
  { target: 'userName', expression: 'ToLower([userPrincipalName])', matchingPrecedence: 1 },
  { target: 'emails[type eq "work"].value', direct: 'mail', matchingPrecedence: 2 },
  { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
  { target: 'displayName', expression: 'Join(" ", [givenName], [surname])' },
  { target: 'title', direct: 'jobTitle', defaultValue: 'Staff' },
  { target: `${ENTERPRISE}:department`, direct: 'department' },
  { target: 'externalId', direct: 'employeeId', apply: 'create-only' },
  { target: 'name.givenName', expression: 'NormalizeDiacritics([givenName])' },
];

let emu: RunningEmulator;
let h: SyncHarness;

beforeEach(async () => {
  emu = await startTestEmulator();
});
afterEach(async () => {
  h?.close();
  await emu.close();
});

function person(upn: string, extra: Record<string, unknown>) {
  const u = emu.tenant.createUser({ userPrincipalName: upn, accountEnabled: true, ...extra });
  emu.tenant.assign(u.id, 'User');
  return u;
}

describe('a custom mapping table', () => {
  it('creates and updates the SCIM resource it describes', async () => {
    const zoe = person('Zoe.Ngo@Contoso.com', {
      givenName: 'Zoë',
      surname: 'Ngô',
      mail: 'zoe@contoso.com',
      department: 'Research',
      employeeId: 'E-100',
    });
    h = syncHarness(emu, { settings: { mappings } });
    await h.sync();
    const row = h.row('zoe.ngo@contoso.com')!;
    expect(row).toMatchObject({
      display_name: 'Zoë Ngô',
      email: 'zoe@contoso.com',
      active: 1,
      external_id: zoe.id,
    });
    const scim = JSON.parse(row.scim);
    expect(scim).toMatchObject({
      userName: 'zoe.ngo@contoso.com',
      title: 'Staff', // defaultValue: jobTitle is null on create
      externalId: 'E-100',
      name: { givenName: 'Zoe' },
      [ENTERPRISE]: { department: 'Research' },
    });
    expect(scim.schemas).toContain(ENTERPRISE);

    // Updates: create-only mappings are not re-applied; defaultValue is not used on update.
    emu.tenant.updateUser(zoe.id, {
      employeeId: 'E-200',
      department: 'Sales',
      jobTitle: 'Lead',
      surname: 'Nguyen',
    });
    const r = await h.sync();
    expect(r.counts.update).toBe(1);
    const after = JSON.parse(h.row('zoe.ngo@contoso.com')!.scim);
    expect(after).toMatchObject({
      externalId: 'E-100',
      title: 'Lead',
      displayName: 'Zoë Nguyen',
      [ENTERPRISE]: { department: 'Sales' },
    });
    const [entry] = h.rt.store.tables.audit.query({ action: 'update' });
    expect(entry!.modified.map((m) => m.target).sort()).toEqual(
      ['displayName', 'title', `${ENTERPRISE}:department`].sort(),
    );
  });

  it('matches on the second matching attribute, and fails a user that matches several rows', async () => {
    person('kim@contoso.com', { givenName: 'Kim', surname: 'Lee', mail: 'kim.lee@contoso.com' });
    person('sam@contoso.com', { givenName: 'Sam', surname: 'Roe', mail: 'shared@contoso.com' });
    h = syncHarness(emu, { settings: { mappings } });
    const insert = h.rt.store.db.prepare('INSERT INTO users (user_name, email) VALUES (?, ?)');
    insert.run('klee', 'kim.lee@contoso.com'); // no userName match, but the work email matches
    insert.run('s1', 'shared@contoso.com');
    insert.run('s2', 'SHARED@contoso.com');
    const r = await h.sync();
    expect(r.counts.link).toBe(1);
    expect(r.counts.error).toBe(1);
    expect(h.row('kim@contoso.com')).toMatchObject({ email: 'kim.lee@contoso.com', display_name: 'Kim Lee' });
    expect(h.row('klee')).toBeUndefined();
    expect(h.row('sam@contoso.com')).toBeUndefined();
    const [err] = h.rt.store.tables.audit.query({ action: 'error' });
    expect(err!.reason).toMatch(/matches 2 local users/);
  });

  it('changing the mappings starts a new initial cycle that re-evaluates every user', async () => {
    person('ann@contoso.com', { givenName: 'Ann', surname: 'Bell', mail: 'ann@contoso.com' });
    h = syncHarness(emu);
    await h.sync();
    expect(h.row('ann@contoso.com')!.display_name).toBeNull();
    h.close();
    h = syncHarness(emu, { dir: h.dir, settings: { mappings } });
    const r = await h.sync();
    expect(r.kind).toBe('initial');
    expect(r.counts.update).toBe(1);
    expect(h.row('ann@contoso.com')!.display_name).toBe('Ann Bell');
    expect(h.logs().some((l) => /mappings or scope settings changed/.test(String(l.msg)))).toBe(true);
  });

  it('reads app-role assignments, direct and through a group, for SingleAppRoleAssignment', async () => {
    const admin = '11111111-1111-4111-8111-111111111111';
    const reader = '22222222-2222-4222-8222-222222222222';
    emu.tenant.setAppRoles([
      { id: admin, value: 'Admin', displayName: 'Administrator' },
      { id: reader, value: 'Reader', displayName: 'Reader' },
    ]);
    const ada = emu.tenant.createUser({ userPrincipalName: 'ada@contoso.com', accountEnabled: true });
    const bo = emu.tenant.createUser({ userPrincipalName: 'bo@contoso.com', accountEnabled: true });
    emu.tenant.assign(ada.id, 'User', admin);
    const group = emu.tenant.createGroup({ displayName: 'Readers', members: [bo.id] });
    emu.tenant.assign(group.id, 'Group', reader);
    const roleMappings = [
      { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
      { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
      { target: 'userType', expression: 'SingleAppRoleAssignment([appRoleAssignments])' },
    ];
    h = syncHarness(emu, { settings: { mappings: roleMappings } });
    await h.sync();
    expect(JSON.parse(h.row('ada@contoso.com')!.scim).userType).toBe('Admin');
    expect(JSON.parse(h.row('bo@contoso.com')!.scim).userType).toBe('Reader');

    emu.tenant.unassign(ada.id, admin); // the role changes; the user object does not
    emu.tenant.assign(ada.id, 'User', reader);
    const r = await h.sync();
    expect(r.counts.update).toBe(1);
    expect(JSON.parse(h.row('ada@contoso.com')!.scim).userType).toBe('Reader');
  });
});
