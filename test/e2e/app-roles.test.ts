/**
 * App roles end to end, on both stores: the emulator's app-role assignments (direct, and through an
 * assigned group) read over HTTPS by the real Graph client, written to `roles` in the users table and
 * read back with plain SQL as the application would. Roles added, changed and removed; the primary role
 * from SingleAppRoleAssignment; a role change under the daemon (`entrasync run`); the settings that cannot
 * work rejected by the built CLI (exit 2).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, runCli, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, storeHarness, testStore, type StoreHarness } from '../support/stores.js';
import { EVERY_SECOND } from '../daemon/fixture.js';
import { cycleFinished, startDaemon } from '../daemon/support.js';

const ADMIN = '11111111-1111-4111-8111-111111111111';
const READER = '22222222-2222-4222-8222-222222222222';
const AUDITOR = '33333333-3333-4333-8333-333333333333';
const APP_ROLES = [
  { id: ADMIN, value: 'Admin', displayName: 'Administrator' },
  { id: READER, value: 'Reader', displayName: 'Reader' },
  { id: AUDITOR, value: 'Auditor', displayName: 'Auditor' },
];
const TYPE = 'WindowsAzureActiveDirectoryRole';
const NAMES: Record<string, string> = { Admin: 'Administrator', Reader: 'Reader', Auditor: 'Auditor' };
/** The roles list as AppRoleAssignmentsComplex writes it, in value order. */
const complex = (...values: string[]) =>
  values.sort().map((value) => ({ primary: false, type: TYPE, display: NAMES[value], value }));

const BASE = [
  { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
  { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
  { target: 'displayName', direct: 'displayName' },
];
const COMPLEX = [...BASE, { target: 'roles', expression: 'AppRoleAssignmentsComplex([appRoleAssignments])' }];
const SINGLE = [
  ...BASE,
  ...['value', 'display'].map((sub) => ({
    target: `roles[primary eq "True"].${sub}`,
    expression: 'SingleAppRoleAssignment([appRoleAssignments])',
  })),
];

describe.each(STORE_KINDS)('app roles on %s', (kind) => {
  let emu: RunningEmulator;
  let h: StoreHarness;
  let ada: string, bo: string, cy: string, dee: string, team: string;

  beforeEach(async () => {
    emu = await startTestEmulator({ pageSize: 3, assignmentPageSize: 2 });
    emu.tenant.setAppRoles(APP_ROLES);
    const user = (name: string) =>
      emu.tenant.createUser({
        userPrincipalName: `${name}@contoso.com`,
        displayName: name,
        accountEnabled: true,
      }).id;
    [ada, bo, cy, dee] = ['ada', 'bo', 'cy', 'dee'].map(user) as [string, string, string, string];
    team = emu.tenant.createGroup({ displayName: 'Team', members: [bo, cy] }).id;
    emu.tenant.assign(ada, 'User', ADMIN);
    emu.tenant.assign(ada, 'User', READER);
    emu.tenant.assign(team, 'Group', READER);
    emu.tenant.assign(cy, 'User', ADMIN);
    emu.tenant.assign(dee, 'User');
  });
  afterEach(async () => {
    await h.close();
    await emu.close();
  });

  /** Each user's `active` and `roles`, as the application reads the users table. */
  const state = async () => {
    const rows = await h.store.query<{ user_name: string; active: number; scim: string }>(
      'SELECT user_name, active, scim FROM t.users ORDER BY user_name',
    );
    return Object.fromEntries(
      rows.map((r) => [
        r.user_name.split('@')[0],
        { active: Number(r.active), roles: (JSON.parse(r.scim) as { roles?: unknown }).roles ?? null },
      ]),
    );
  };
  const rolesOf = async (name: string) => (await state())[name]?.roles;
  /** Who holds a role, by the README's query ("Reading the store") for this kind of store. */
  const holders = async (value: string) =>
    (
      await h.store.query<{ user_name: string }>(
        kind === 'sqlite'
          ? `SELECT user_name FROM t.users, json_each(users.scim, '$.roles') r
             WHERE json_extract(r.value, '$.value') = ? ORDER BY user_name`
          : `SELECT user_name FROM t.users, jsonb_array_elements(scim::jsonb -> 'roles') r
             WHERE r ->> 'value' = ? ORDER BY user_name`,
        [value],
      )
    ).map((r) => r.user_name);
  /** The `modified` entries of the last audit row of a user. */
  const lastModified = async (name: string) => {
    const rows = await h.store.query<{ action: string; modified: string }>(
      'SELECT action, modified FROM t.audit WHERE user_name = ? ORDER BY seq DESC',
      [`${name}@contoso.com`],
    );
    return { action: rows[0]?.action, modified: JSON.parse(rows[0]?.modified ?? '[]') as unknown[] };
  };

  it('roles added, directly and through the assigned group; the same roles again change nothing', async () => {
    h = await storeHarness(emu, kind, { settings: { mappings: COMPLEX } });
    expect((await h.sync()).counts.create).toBe(4);
    expect(await state()).toEqual({
      ada: { active: 1, roles: complex('Admin', 'Reader') },
      bo: { active: 1, roles: complex('Reader') },
      cy: { active: 1, roles: complex('Admin', 'Reader') },
      dee: { active: 1, roles: null },
    });
    expect(await holders('Admin')).toEqual(['ada@contoso.com', 'cy@contoso.com']);

    emu.tenant.assign(ada, 'User', AUDITOR);
    emu.tenant.assign(team, 'Group', AUDITOR);
    emu.tenant.assign(dee, 'User', READER);
    const r = await h.sync();
    expect(r.counts).toMatchObject({ update: 4, create: 0, disable: 0 });
    expect(await state()).toEqual({
      ada: { active: 1, roles: complex('Admin', 'Auditor', 'Reader') },
      bo: { active: 1, roles: complex('Auditor', 'Reader') },
      cy: { active: 1, roles: complex('Admin', 'Auditor', 'Reader') },
      dee: { active: 1, roles: complex('Reader') },
    });
    expect(await lastModified('dee')).toEqual({
      action: 'update',
      modified: [{ target: 'roles', oldValue: null, newValue: complex('Reader') }],
    });
    expect((await h.sync()).counts).toMatchObject({ update: 0, create: 0 });
  });

  it("roles changed: a direct role swapped, the group's role swapped, a member joining the group", async () => {
    h = await storeHarness(emu, kind, { settings: { mappings: COMPLEX } });
    await h.sync();
    emu.tenant.unassign(ada, READER);
    emu.tenant.assign(ada, 'User', AUDITOR);
    emu.tenant.unassign(team, READER);
    emu.tenant.assign(team, 'Group', AUDITOR);
    emu.tenant.addMember(team, dee);
    const r = await h.sync();
    expect(r.counts).toMatchObject({ update: 4, disable: 0 });
    expect(await state()).toEqual({
      ada: { active: 1, roles: complex('Admin', 'Auditor') },
      bo: { active: 1, roles: complex('Auditor') },
      cy: { active: 1, roles: complex('Admin', 'Auditor') },
      dee: { active: 1, roles: complex('Auditor') },
    });
    expect(await lastModified('bo')).toEqual({
      action: 'update',
      modified: [{ target: 'roles', oldValue: complex('Reader'), newValue: complex('Auditor') }],
    });
  });

  it('roles removed: the last role goes from roles (the user stays assigned and active); a member leaving the group loses its roles', async () => {
    h = await storeHarness(emu, kind, { settings: { mappings: COMPLEX } });
    await h.sync();
    emu.tenant.assign(ada, 'User'); // still assigned, with default access only
    emu.tenant.unassign(ada, ADMIN);
    emu.tenant.unassign(ada, READER);
    emu.tenant.assign(team, 'Group'); // the group stays assigned without its role
    emu.tenant.unassign(team, READER);
    emu.tenant.removeMember(team, cy); // cy keeps its direct role
    const r = await h.sync();
    expect(r.counts).toMatchObject({ update: 3, disable: 0 });
    expect(await state()).toEqual({
      ada: { active: 1, roles: null },
      bo: { active: 1, roles: null },
      cy: { active: 1, roles: complex('Admin') },
      dee: { active: 1, roles: null },
    });
    expect(await lastModified('ada')).toEqual({
      action: 'update',
      modified: [{ target: 'roles', oldValue: complex('Admin', 'Reader'), newValue: null }],
    });
    expect((await h.sync()).counts).toMatchObject({ update: 0 });
  });

  it('a user unassigned altogether is disabled and its roles removed; assigned again, it gets them back', async () => {
    h = await storeHarness(emu, kind, { settings: { mappings: COMPLEX } });
    await h.sync();
    emu.tenant.unassign(ada);
    expect((await h.sync()).counts).toMatchObject({ disable: 1 });
    expect((await state()).ada).toEqual({ active: 0, roles: null });
    emu.tenant.assign(ada, 'User', READER);
    expect((await h.sync()).counts).toMatchObject({ enable: 1 });
    expect((await state()).ada).toEqual({ active: 1, roles: complex('Reader') });
  });

  it('an app role renamed in Entra (its value) updates every holder in the next cycle', async () => {
    h = await storeHarness(emu, kind, { settings: { mappings: COMPLEX } });
    await h.sync();
    emu.tenant.setAppRoles(
      APP_ROLES.map((r) => (r.id === ADMIN ? { ...r, value: 'Owner', displayName: 'Owner' } : r)),
    );
    expect((await h.sync()).counts).toMatchObject({ update: 2 });
    const owner = { primary: false, type: TYPE, display: 'Owner', value: 'Owner' };
    expect(await rolesOf('ada')).toEqual([owner, ...complex('Reader')]);
    expect(await rolesOf('cy')).toEqual([owner, ...complex('Reader')]);
    expect(await rolesOf('bo')).toEqual(complex('Reader'));
  });

  it('provision on demand (the built CLI) writes the roles held at that moment', async () => {
    h = await storeHarness(emu, kind, { settings: { mappings: COMPLEX } });
    await h.sync();
    emu.tenant.unassign(ada, ADMIN);
    emu.tenant.assign(ada, 'User', AUDITOR);
    emu.tenant.addMember(team, ada);
    const r = await runCli(['provision', ada, '--json'], h.env);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { action: string | null }).action).toBe('update');
    expect((await state()).ada).toEqual({ active: 1, roles: complex('Auditor', 'Reader') });
    expect((await state()).cy).toEqual({ active: 1, roles: complex('Admin', 'Reader') });
  });

  it('the primary role from SingleAppRoleAssignment: one role of several, the same each cycle; changed, then removed', async () => {
    h = await storeHarness(emu, kind, { settings: { mappings: SINGLE } });
    await h.sync();
    const primary = (value: string) => [{ primary: true, value, display: NAMES[value] }];
    expect(await rolesOf('ada')).toEqual(primary('Admin'));
    expect(await rolesOf('bo')).toEqual(primary('Reader'));
    expect(await rolesOf('dee')).toBeNull();
    expect((await h.sync()).counts).toMatchObject({ update: 0 });

    emu.tenant.unassign(ada, ADMIN);
    emu.tenant.unassign(team, READER);
    emu.tenant.assign(team, 'Group', AUDITOR);
    expect((await h.sync()).counts).toMatchObject({ update: 2 });
    expect(await rolesOf('ada')).toEqual(primary('Reader'));
    expect(await rolesOf('bo')).toEqual(primary('Auditor'));

    emu.tenant.assign(ada, 'User');
    emu.tenant.unassign(ada, READER);
    expect((await h.sync()).counts).toMatchObject({ update: 1 });
    expect((await state()).ada).toEqual({ active: 1, roles: null });
  });
});

describe.each(STORE_KINDS)('under the daemon on %s', (kind) => {
  it('a role given and then taken in Entra reaches the row in the next cycles', async () => {
    const emu = await startTestEmulator();
    const dir = tempDir();
    const store = await testStore(kind, dir);
    try {
      emu.tenant.setAppRoles(APP_ROLES);
      const ada = emu.tenant.createUser({ userPrincipalName: 'ada@contoso.com', accountEnabled: true }).id;
      emu.tenant.assign(ada, 'User', READER);
      writeSettings(dir, { mappings: COMPLEX });
      const d = await startDaemon(
        emulatorEnv(emu, dir, {
          ENTRASYNC_DB: store.db,
          ENTRASYNC_SCHEDULE: EVERY_SECOND,
          ENTRASYNC_LOG_LEVEL: 'info',
        }),
      );
      const roles = async () =>
        (JSON.parse((await store.users())[0]?.scim ?? '{}') as { roles?: unknown }).roles ?? null;
      const updated = (l: Record<string, unknown>) =>
        cycleFinished(l) && (l.counts as Record<string, number>).update === 1;
      try {
        await d.waitFor((l) => cycleFinished(l) && l.kind === 'initial');
        expect(await roles()).toEqual(complex('Reader'));
        emu.tenant.assign(ada, 'User', ADMIN);
        await d.waitForCount(updated, 1, 15_000);
        expect(await roles()).toEqual(complex('Admin', 'Reader'));
        emu.tenant.assign(ada, 'User');
        emu.tenant.unassign(ada, ADMIN);
        emu.tenant.unassign(ada, READER);
        await d.waitForCount(updated, 2, 15_000);
        expect(await roles()).toBeNull();
        expect((await store.users())[0]?.active).toBe(1);
      } finally {
        expect(await d.stop()).toBe(0);
      }
    } finally {
      await store.close();
      await emu.close();
    }
  });
});

describe('settings that cannot give roles, through the built CLI', () => {
  let emu: RunningEmulator;
  beforeEach(async () => {
    emu = await startTestEmulator();
  });
  afterEach(() => emu.close());

  it('scope all with a mapping that reads app roles: exit 2 naming ENTRASYNC_SCOPE and the mapping; nothing written', async () => {
    const dir = tempDir();
    writeSettings(dir, { mappings: COMPLEX });
    const r = await runCli(['sync'], emulatorEnv(emu, dir, { ENTRASYNC_SCOPE: 'all' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ENTRASYNC_SCOPE/);
    expect(r.stderr).toMatch(/mappings\[3\].*AppRoleAssignmentsComplex/);
    expect(emu.tenant.requests()).toEqual([]);
  });

  it('roles fed by something else: mappings check and sync exit 2 naming the mapping and the fix', async () => {
    const dir = tempDir();
    writeSettings(dir, { mappings: [...BASE, { target: 'roles', direct: 'jobTitle' }] });
    const env = emulatorEnv(emu, dir);
    for (const args of [['mappings', 'check'], ['sync']]) {
      const r = await runCli(args, env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/mappings\[3\]\.direct/);
      expect(r.stderr).toMatch(/AppRoleAssignmentsComplex\(\[appRoleAssignments\]\)/);
    }
  });
});
