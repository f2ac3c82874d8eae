/**
 * One bad record never stops anyone else (issue 12, items 3 and 4): a user whose Graph data is
 * unusable is a failed user (audited, escrowed, in status, retried), never a failed cycle, and its
 * decisive valid facts are still applied; a malformed group member or assignment fails that element
 * alone. Emulator over HTTPS, real msal-node and Graph client, real store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { buildStatus } from '../../src/sync/status.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;
let extra: SyncHarness | undefined;
const strategyBefore = process.env.ENTRASYNC_USERS_STRATEGY;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
});
afterEach(async () => {
  h?.close();
  extra?.close();
  extra = undefined;
  await emu.close();
  if (strategyBefore === undefined) delete process.env.ENTRASYNC_USERS_STRATEGY;
  else process.env.ENTRASYNC_USERS_STRATEGY = strategyBefore;
});

const errorsFor = (id: string) =>
  h.rt.store.audit.query({ action: 'error', limit: 1000 }).filter((e) => e.entraId === id);
const failing = (id: string) => buildStatus(h.rt.store).failingUsers.users.find((u) => u.entraId === id);

/** Three linked users: ana and bob directly assigned, cho through an assigned group. */
async function linked() {
  const ana = createEnabledUser(emu, 'ana@contoso.com');
  const bob = createEnabledUser(emu, 'bob@contoso.com');
  const cho = createEnabledUser(emu, 'cho@contoso.com');
  const group = emu.tenant.createGroup({ displayName: 'App users', members: [cho.id] });
  emu.tenant.assign(ana.id, 'User');
  emu.tenant.assign(bob.id, 'User');
  emu.tenant.assign(group.id, 'Group');
  h = syncHarness(emu);
  const first = await h.sync();
  expect(first.counts.create).toBe(3);
  return { ana, bob, cho, group };
}

const unusable: [string, string, RegExp][] = [
  ['a control character', 'bad\u0007name', /displayName contains control characters/],
  ['an attribute over the length limit', 'x'.repeat(4097), /displayName is 4097 characters long/],
];

describe('a linked user with unusable data (incremental rounds)', () => {
  it.each(unusable)(
    'with %s and accountEnabled=false: disabled, audited, escrowed, in status; the others flow',
    async (_, displayName, problem) => {
      const { ana, bob } = await linked();
      emu.tenant.updateUser(ana.id, { displayName, accountEnabled: false });
      emu.tenant.updateUser(bob.id, { displayName: 'Bob B' });
      const r = await h.sync();
      expect(r.status).toBe('succeeded');
      // The decisive fact is applied; the unusable attribute is not.
      expect(h.row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'ana' });
      expect(h.row('bob@contoso.com')).toMatchObject({ active: 1, display_name: 'Bob B' });
      expect(errorsFor(ana.id).map((e) => e.reason)).toEqual([expect.stringMatching(problem)]);
      expect(failing(ana.id)).toMatchObject({ failures: 1, lastError: expect.stringMatching(problem) });
      expect(h.rt.store.mirror.getUser(ana.id)!.attributes.displayName).toBe('ana');

      // Not due yet: the next cycle leaves it alone and nothing else is stopped.
      emu.tenant.updateUser(bob.id, { displayName: 'Bob C' });
      const next = await h.sync();
      expect(next.status).toBe('succeeded');
      expect(h.row('bob@contoso.com')!.display_name).toBe('Bob C');
      expect(errorsFor(ana.id)).toHaveLength(1);

      // Retried (as `entrasync retry` makes it due): read again, still unusable, failed again.
      h.rt.store.mirror.retryFailed(ana.id);
      const retried = await h.sync();
      expect(retried.status).toBe('succeeded');
      expect(errorsFor(ana.id)).toHaveLength(2);
      expect(failing(ana.id)).toMatchObject({ failures: 2 });

      // Fixed in Entra: the next change is applied normally and the user leaves the escrow.
      emu.tenant.updateUser(ana.id, { displayName: 'Ana A' });
      const fixed = await h.sync();
      expect(fixed.status).toBe('succeeded');
      expect(h.row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'Ana A' });
      expect(failing(ana.id)).toBeUndefined();
    },
  );

  it('a valid change of another attribute never makes the stale mirror pass', async () => {
    const { ana } = await linked();
    emu.tenant.updateUser(ana.id, { displayName: 'bad\u0001' });
    await h.sync();
    expect(failing(ana.id)).toMatchObject({ failures: 1 });
    // return=minimal sends only the mail: alone it is valid, but the user's data is still unusable.
    emu.tenant.updateUser(ana.id, { mail: 'ana.new@contoso.com' });
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(failing(ana.id)).toBeDefined();
    expect(h.row('ana@contoso.com')).toMatchObject({
      active: 1,
      display_name: 'ana',
      email: 'ana@contoso.com',
    });
    emu.tenant.updateUser(ana.id, { displayName: 'Ana' });
    await h.sync();
    expect(h.row('ana@contoso.com')).toMatchObject({ display_name: 'Ana', email: 'ana.new@contoso.com' });
    expect(failing(ana.id)).toBeUndefined();
  });

  it('left scope while unusable and not due: the disable is applied', async () => {
    const { ana } = await linked();
    emu.tenant.updateUser(ana.id, { displayName: 'bad\u0002' });
    await h.sync();
    expect(failing(ana.id)).toBeDefined();
    emu.tenant.unassign(ana.id);
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(h.row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'ana' });
  });

  it('soft-deleted while unusable: disabled; purged: deleted', async () => {
    const { ana } = await linked();
    emu.tenant.updateUser(ana.id, { displayName: 'bad\u0003' });
    await h.sync();
    emu.tenant.softDeleteUser(ana.id);
    await h.sync();
    expect(h.row('ana@contoso.com')).toMatchObject({ active: 0 });
    emu.tenant.hardDeleteUser(ana.id);
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(h.row('ana@contoso.com')).toBeUndefined();
  });
});

describe('a linked user with unusable data in full rounds', () => {
  const rounds: [
    string,
    (ids: { ana: { id: string } }) => Promise<Awaited<ReturnType<SyncHarness['sync']>>>,
  ][] = [
    [
      'the delta token expired',
      async () => {
        emu.tenant.expireDeltaTokens();
        return h.sync();
      },
    ],
    ['resync', () => h.sync({ forced: true })],
    [
      'changed scope settings',
      async () => {
        extra = syncHarness(emu, { dir: h.dir, settings: { scope: { expandNestedGroups: true } } });
        const r = await extra.sync();
        expect(r.kind).toBe('initial');
        return r;
      },
    ],
  ];
  for (const strategy of ['tenant', 'scoped'] as const) {
    it.each(rounds)(`${strategy} read, %s: the round succeeds, the disable is applied`, async (_, run) => {
      process.env.ENTRASYNC_USERS_STRATEGY = strategy;
      const ids = await linked();
      const { ana, bob } = ids;
      emu.tenant.updateUser(ana.id, { displayName: 'bad\u0007', accountEnabled: false });
      emu.tenant.updateUser(bob.id, { displayName: 'Bob B' });
      const r = await run(ids);
      expect(r.status).toBe('succeeded');
      const store = extra ?? h;
      expect(store.row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'ana' });
      expect(store.row('bob@contoso.com')).toMatchObject({ active: 1, display_name: 'Bob B' });
      expect(buildStatus(store.rt.store).failingUsers.users.map((u) => u.entraId)).toEqual([ana.id]);
      // And the next full round too.
      const again = await store.sync({ forced: true });
      expect(again.status).toBe('succeeded');
    });
  }
});
