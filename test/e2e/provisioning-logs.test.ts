/**
 * Provisioning logs like Entra's (issue 15 §4): every audit row says why, a user skipped at first
 * sight shows up once, a create lists what it set, `audit --user` follows an Entra user across
 * renames, `provision` explains scope, failing users are named and retried by userName, and
 * on-demand runs stay out of the job's last error and recent cycles. Against the emulator, on both
 * stores; the CLI is the built one, as a child process.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import type { AuditEntry } from '../../src/store/index.js';
import { buildStatus } from '../../src/sync/status.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { runCli } from '../support/harness.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

let emu: RunningEmulator;
let h: StoreHarness;

const audit = async (): Promise<AuditEntry[]> => h.rt.store.audit.query({ limit: 1000 });
const last = async (entraId: string, action: string) =>
  (await audit()).filter((e) => e.entraId === entraId && e.action === action).at(-1);

describe.each(STORE_KINDS)('on %s', (kind) => {
  beforeEach(async () => {
    emu = await startTestEmulator({ pageSize: 5 });
  });
  afterEach(async () => {
    await h?.close();
    await emu.close();
  });

  const start = async (settings?: Record<string, unknown>) => {
    h = await storeHarness(emu, kind, settings ? { settings } : {});
  };

  it('every disable and delete says why: unassigned, disabled, soft-deleted, left a group, hard-deleted', async () => {
    const users = ['un', 'dis', 'soft', 'grp', 'hard', 'gone'].map((n) =>
      createEnabledUser(emu, `${n}@contoso.com`),
    );
    const [un, dis, soft, grp, hard, gone] = users as [
      { id: string },
      { id: string },
      { id: string },
      { id: string },
      { id: string },
      { id: string },
    ];
    const group = emu.tenant.createGroup({ displayName: 'Pilots', members: [grp.id] });
    for (const u of [un, dis, soft, hard, gone]) emu.tenant.assign(u.id, 'User');
    emu.tenant.assign(group.id, 'Group');
    await start();
    expect((await h.sync()).counts.create).toBe(6);
    const create = await last(un.id, 'create');
    expect(create).toMatchObject({ reasonCode: 'new-assignment', reason: 'in scope: assigned directly' });
    expect(await last(grp.id, 'create')).toMatchObject({ reasonCode: 'new-assignment' });

    emu.tenant.unassign(un.id);
    emu.tenant.updateUser(dis.id, { accountEnabled: false });
    emu.tenant.softDeleteUser(soft.id);
    emu.tenant.removeMember(group.id, grp.id);
    emu.tenant.softDeleteUser(hard.id);
    emu.tenant.updateUser(gone.id, { displayName: 'Gone Renamed' });
    const r = await h.sync();
    expect(r.counts).toMatchObject({ disable: 5, update: 1 });

    expect(await last(un.id, 'disable')).toMatchObject({ reasonCode: 'unassigned' });
    expect((await last(un.id, 'disable'))!.reason).toMatch(/no longer assigned/);
    expect(await last(dis.id, 'disable')).toMatchObject({ reasonCode: 'disabled-in-entra' });
    expect(await last(soft.id, 'disable')).toMatchObject({ reasonCode: 'soft-deleted' });
    const left = await last(grp.id, 'disable');
    expect(left).toMatchObject({ reasonCode: `left-group:${group.id}` });
    expect(left!.reason).toContain(group.id);
    expect(await last(gone.id, 'update')).toMatchObject({ reasonCode: 'attributes-changed' });

    emu.tenant.hardDeleteUser(hard.id);
    expect((await h.sync()).counts.delete).toBe(1);
    expect(await last(hard.id, 'delete')).toMatchObject({ reasonCode: 'hard-deleted' });
    // Every audit row has a reason, machine-readable and for people.
    for (const e of await audit()) {
      expect(e.reasonCode, `${e.action} ${e.userName}`).toBeTruthy();
      expect(e.reason, `${e.action} ${e.userName}`).toBeTruthy();
    }
  });

  it('a disable held by the deletion threshold keeps its reason when approved', async () => {
    const users = ['a', 'b', 'c'].map((n) => createEnabledUser(emu, `${n}@contoso.com`));
    const group = emu.tenant.createGroup({ displayName: 'Pilots', members: users.map((u) => u.id) });
    emu.tenant.assign(group.id, 'Group');
    await start({ safety: { deletionThreshold: { enabled: true, count: 1, percent: null } } });
    await h.sync();
    for (const u of users) emu.tenant.removeMember(group.id, u.id);
    expect((await h.sync()).counts).toMatchObject({ disable: 0, staged: 3 });
    expect((await audit()).filter((e) => e.action === 'staged-disable').map((e) => e.reasonCode)).toEqual([
      'held',
      'held',
      'held',
    ]);
    const approved = await runCli(['approve-deletions'], h.env);
    expect(approved.stdout).toContain('Applied 3 disables');
    for (const u of users)
      expect(await last(u.id, 'disable')).toMatchObject({ reasonCode: `left-group:${group.id}` });
  });

  it('a user disabled at first sight is a skip row and a count, once, not every cycle', async () => {
    const off = createEnabledUser(emu, 'off@contoso.com', { accountEnabled: false });
    const on = createEnabledUser(emu, 'on@contoso.com');
    emu.tenant.assign(off.id, 'User');
    emu.tenant.assign(on.id, 'User');
    await start();
    const first = await h.sync();
    expect(first.counts).toMatchObject({ create: 1, skip: 1 });
    expect(await h.row('off@contoso.com')).toBeUndefined();
    const skips = (await audit()).filter((e) => e.entraId === off.id);
    expect(skips).toHaveLength(1);
    expect(skips[0]).toMatchObject({
      action: 'skip',
      status: 'skipped',
      reasonCode: 'disabled-in-entra',
      userName: 'off@contoso.com',
    });
    // A change of the user that keeps it disabled, and a full resync: no second row.
    emu.tenant.updateUser(off.id, { displayName: 'Still Off' });
    expect((await h.sync()).counts.skip ?? 0).toBe(0);
    expect((await h.sync({ forced: true })).counts.skip ?? 0).toBe(0);
    expect((await audit()).filter((e) => e.entraId === off.id)).toHaveLength(1);
    // The batches' change summaries announce changes only: never a skip the cycle then does not count.
    const announced = h
      .logs()
      .filter((l) => l.msg === 'change summary')
      .map((l) => l.planned as Record<string, number>);
    expect(announced.length).toBeGreaterThan(0);
    expect(announced.filter((p) => 'skip' in p)).toEqual([]);
  });

  it('a create lists every attribute it set, old value null', async () => {
    const ada = createEnabledUser(emu, 'ada@contoso.com', { displayName: 'Ada Lovelace' });
    emu.tenant.assign(ada.id, 'User');
    await start();
    await h.sync();
    const create = (await last(ada.id, 'create'))!;
    const byTarget = new Map(create.modified.map((m) => [m.target, m]));
    expect(byTarget.get('userName')).toEqual({
      target: 'userName',
      oldValue: null,
      newValue: 'ada@contoso.com',
    });
    expect(byTarget.get('displayName')).toEqual({
      target: 'displayName',
      oldValue: null,
      newValue: 'Ada Lovelace',
    });
    expect(byTarget.get('active')).toEqual({ target: 'active', oldValue: null, newValue: true });
    expect(create.modified.every((m) => m.oldValue === null)).toBe(true);
    const cli = await runCli(['audit', '--user', 'ada@contoso.com', '--action', 'create'], h.env);
    expect(cli.stdout).toContain('displayName: null -> "Ada Lovelace"');
  });

  it('audit --user takes the Entra object id, the local id or any userName the user had', async () => {
    const ada = createEnabledUser(emu, 'ada@contoso.com');
    emu.tenant.assign(ada.id, 'User');
    await start();
    await h.sync();
    emu.tenant.updateUser(ada.id, {
      userPrincipalName: 'ada.byron@contoso.com',
      mail: 'ada.byron@contoso.com',
    });
    await h.sync();
    emu.tenant.updateUser(ada.id, { displayName: 'Countess' });
    await h.sync();
    const localId = (await h.row('ada.byron@contoso.com'))!.id;
    const history = async (who: string) => {
      const r = await runCli(['audit', '--user', who, '--json'], h.env);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as AuditEntry[]).map((e) => `${e.action} ${e.userName}`);
    };
    const expected = [
      'create ada@contoso.com',
      'update ada.byron@contoso.com',
      'update ada.byron@contoso.com',
    ];
    expect(await history(ada.id)).toEqual(expected);
    expect(await history(localId)).toEqual(expected);
    expect(await history('ADA@contoso.com')).toEqual(expected);
    expect(await history('ada.byron@contoso.com')).toEqual(expected);
    const none = await runCli(['audit', '--user', 'nobody@contoso.com'], h.env);
    expect(none.stdout).toContain('No audit entries match.');
  });

  it('a user rejected for bad data is failing, named by userName, and retry --user takes the userName', async () => {
    const ana = createEnabledUser(emu, 'ana@contoso.com');
    const bob = createEnabledUser(emu, 'bob@contoso.com');
    emu.tenant.assign(ana.id, 'User');
    emu.tenant.assign(bob.id, 'User');
    await start({ safety: { retry: { baseSeconds: 3600, maxSeconds: 3600 } } });
    await h.sync();
    emu.tenant.updateUser(ana.id, { displayName: 'bad\u0001' });
    await h.sync();

    const status = await buildStatus(h.rt.store, { personal: true });
    expect(status.failingUsers.count).toBe(1);
    expect(status.failingUsers.users[0]).toMatchObject({ entraId: ana.id, userName: 'ana@contoso.com' });
    const bare = await buildStatus(h.rt.store);
    expect(bare.failingUsers.users[0]!.userName).toBeUndefined();
    const text = await runCli(['status'], h.env);
    expect(text.stdout).toMatch(/^ {2}ana@contoso\.com \(.*\) {2}1 failures/m);

    const retried = await runCli(['retry', '--user', 'ana@contoso.com'], h.env);
    expect(retried.stdout).toContain('1 failing users will be retried');
    const after = await buildStatus(h.rt.store, { personal: true });
    expect(after.failingUsers.users[0]!.retryAfter).toBeNull();

    // Bad data at first sight: never created, failing all the same (by its Entra id: no name known).
    const cy = createEnabledUser(emu, 'cy@contoso.com', { displayName: 'bad\u0002' });
    emu.tenant.assign(cy.id, 'User');
    await h.sync();
    const both = await buildStatus(h.rt.store, { personal: true });
    expect(both.failingUsers.users.map((u) => u.entraId).sort()).toEqual([ana.id, cy.id].sort());
    expect(await h.row('cy@contoso.com')).toBeUndefined();
    expect((await runCli(['retry', '--user', cy.id], h.env)).stdout).toContain('1 failing users');
  });

  it('a user the store rejects is listed as failing by userName; retry --user accepts its userName', async () => {
    const ana = createEnabledUser(emu, 'ana@contoso.com');
    emu.tenant.assign(ana.id, 'User');
    await start({ safety: { retry: { baseSeconds: 3600, maxSeconds: 3600 } } });
    await h.sync();
    // A name of more than the store's limit fails at the store, not at planning.
    emu.tenant.updateUser(ana.id, { userPrincipalName: 'ana@contoso.com\u200b' });
    await h.sync();
    const status = await buildStatus(h.rt.store, { personal: true });
    expect(status.failingUsers.users.map((u) => u.userName)).toEqual(['ana@contoso.com']);
    const retried = await runCli(['retry', '--user', 'ana@contoso.com'], h.env);
    expect(retried.stdout).toContain('1 failing users will be retried');
  });

  it('on-demand runs do not become the last error nor push scheduled cycles out of recent cycles', async () => {
    const ana = createEnabledUser(emu, 'ana@contoso.com');
    emu.tenant.assign(ana.id, 'User');
    await start();
    await h.sync();
    for (let i = 0; i < 10; i++) {
      const r = await runCli(['provision', i % 2 ? 'ghost@contoso.com' : ana.id], h.env);
      expect(r.code).not.toBe(2);
    }
    const status = await buildStatus(h.rt.store, { personal: true });
    expect(status.lastError).toBeNull();
    expect(status.lastCycles.map((c) => c.kind)).toContain('initial');
    expect(status.lastCycles.every((c) => c.kind !== 'on-demand')).toBe(true);
    expect(status.onDemandRuns.length).toBeGreaterThan(0);
    expect(status.onDemandRuns.every((c) => c.kind === 'on-demand')).toBe(true);
    expect(status.quarantine.quarantined).toBe(false);
    const text = await runCli(['status'], h.env);
    expect(text.stdout).toMatch(/Last error: none/);
    expect(text.stdout).toMatch(/On-demand runs:/);
  });
});

describe('provision explains scope', () => {
  beforeEach(async () => {
    emu = await startTestEmulator({ pageSize: 5 });
  });
  afterEach(async () => {
    await h?.close();
    await emu.close();
  });

  interface Trace {
    steps: { step: string; status: string; detail: string }[];
    scope: { inScope: boolean; via: string; groups: { id: string; displayName: string | null }[] };
  }
  const provision = async (user: string) => {
    const r = await runCli(['provision', user, '--json'], h.env);
    return JSON.parse(r.stdout) as Trace;
  };

  it('direct, through a group, not assigned, disabled and never created', async () => {
    const direct = createEnabledUser(emu, 'direct@contoso.com');
    const member = createEnabledUser(emu, 'member@contoso.com');
    const outsider = createEnabledUser(emu, 'outsider@contoso.com');
    const off = createEnabledUser(emu, 'off@contoso.com', { accountEnabled: false });
    const group = emu.tenant.createGroup({ displayName: 'Pilots', members: [member.id] });
    emu.tenant.assign(direct.id, 'User');
    emu.tenant.assign(off.id, 'User');
    emu.tenant.assign(group.id, 'Group');
    h = await storeHarness(emu, 'sqlite');

    const d = await provision(direct.id);
    expect(d.scope).toMatchObject({ inScope: true, via: 'assignment' });
    expect(d.steps.find((s) => s.step === 'scope')!.detail).toContain('in scope: assigned directly');

    const m = await provision(member.id);
    expect(m.scope).toMatchObject({
      inScope: true,
      via: 'group',
      groups: [{ id: group.id, displayName: 'Pilots' }],
    });
    expect(m.steps.find((s) => s.step === 'scope')!.detail).toContain(
      `in scope: through group Pilots (${group.id})`,
    );

    const o = await provision(outsider.id);
    expect(o.scope).toMatchObject({ inScope: false, via: 'none' });
    expect(o.steps.find((s) => s.step === 'scope')!.detail).toContain(
      'out of scope: not assigned (directly or through any assigned group)',
    );

    const f = await provision(off.id);
    expect(f.scope).toMatchObject({ inScope: true, via: 'assignment' });
    const action = f.steps.find((s) => s.step === 'action')!;
    expect(action.detail).toContain('disabled in Entra and never created');
    const text = await runCli(['provision', member.id], h.env);
    expect(text.stdout).toContain(`in scope: through group Pilots (${group.id})`);
  });
});
