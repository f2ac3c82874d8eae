/**
 * One bad record never stops anyone else (issue 12, items 3 and 4): a user whose Graph data is
 * unusable is a failed user (audited, escrowed, in status, retried), never a failed cycle, and its
 * decisive valid facts are still applied; a malformed group member or assignment fails that element
 * alone. Emulator over HTTPS, real msal-node and Graph client, real store of either kind.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { buildStatus } from '../../src/sync/status.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { STORE_KINDS, storeHarness, type StoreHarness, type StoreKind } from '../support/stores.js';

let emu: RunningEmulator;
let h: StoreHarness | undefined;
let extra: StoreHarness | undefined;
/** The harnesses' ENTRASYNC_USERS_STRATEGY, if any. */
let strategyEnv: Record<string, string> = {};

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
  strategyEnv = {};
});
afterEach(async () => {
  await extra?.close();
  await h?.close();
  h = extra = undefined;
  await emu.close();
});

/** The harness of the test (set by linked()). */
const H = () => h!;
const errors = async (match: (e: { entraId: string | null; reason: string | null }) => boolean) =>
  (await H().rt.store.audit.query({ action: 'error', limit: 1000 })).filter(match);
const errorsFor = (id: string) => errors((e) => e.entraId === id);
const failing = async (id: string) =>
  (await buildStatus(H().rt.store, { personal: true })).failingUsers.users.find((u) => u.entraId === id);
const mirrored = async (id: string) =>
  (await H().rt.store.knownUsers([id], { appRoles: false })).get(id)!.source!.attributes;

/** Three linked users: ana and bob directly assigned, cho through an assigned group. */
async function linked(kind: StoreKind) {
  const ana = createEnabledUser(emu, 'ana@contoso.com');
  const bob = createEnabledUser(emu, 'bob@contoso.com');
  const cho = createEnabledUser(emu, 'cho@contoso.com');
  const group = emu.tenant.createGroup({ displayName: 'App users', members: [cho.id] });
  emu.tenant.assign(ana.id, 'User');
  emu.tenant.assign(bob.id, 'User');
  emu.tenant.assign(group.id, 'Group');
  h = await storeHarness(emu, kind, { env: strategyEnv });
  const first = await H().sync();
  expect(first.counts.create).toBe(3);
  return { ana, bob, cho, group };
}

const unusable: [string, string, RegExp][] = [
  ['a control character', 'bad\u0007name', /displayName contains control characters/],
  ['an attribute over the length limit', 'x'.repeat(4097), /displayName is 4097 characters long/],
];

describe.each(STORE_KINDS)('on %s', (kind) => {
  describe('a linked user with unusable data (incremental rounds)', () => {
    it.each(unusable)(
      'with %s and accountEnabled=false: disabled, audited, escrowed, in status; the others flow',
      async (_, displayName, problem) => {
        const { ana, bob } = await linked(kind);
        emu.tenant.updateUser(ana.id, { displayName, accountEnabled: false });
        emu.tenant.updateUser(bob.id, { displayName: 'Bob B' });
        const r = await H().sync();
        expect(r.status).toBe('succeeded');
        // The decisive fact is applied; the unusable attribute is not.
        expect(await H().row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'ana' });
        expect(await H().row('bob@contoso.com')).toMatchObject({ active: 1, display_name: 'Bob B' });
        expect((await errorsFor(ana.id)).map((e) => e.reason)).toEqual([expect.stringMatching(problem)]);
        expect(await failing(ana.id)).toMatchObject({
          failures: 1,
          lastError: expect.stringMatching(problem),
        });
        expect((await mirrored(ana.id)).displayName).toBe('ana');

        // Not due yet: the next cycle leaves it alone and nothing else is stopped.
        emu.tenant.updateUser(bob.id, { displayName: 'Bob C' });
        const next = await H().sync();
        expect(next.status).toBe('succeeded');
        expect((await H().row('bob@contoso.com'))!.display_name).toBe('Bob C');
        expect(await errorsFor(ana.id)).toHaveLength(1);

        // Retried (as `entrasync retry` makes it due): read again, still unusable, failed again.
        await H().rt.store.pending.retryFailed(ana.id);
        const retried = await H().sync();
        expect(retried.status).toBe('succeeded');
        expect(await errorsFor(ana.id)).toHaveLength(2);
        expect(await failing(ana.id)).toMatchObject({ failures: 2 });

        // Fixed in Entra: the next change is applied normally and the user leaves the escrow.
        emu.tenant.updateUser(ana.id, { displayName: 'Ana A' });
        const fixed = await H().sync();
        expect(fixed.status).toBe('succeeded');
        expect(await H().row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'Ana A' });
        expect(await failing(ana.id)).toBeUndefined();
      },
    );

    it('a valid change of another attribute never makes the stale mirror pass', async () => {
      const { ana } = await linked(kind);
      emu.tenant.updateUser(ana.id, { displayName: 'bad\u0001' });
      await H().sync();
      expect(await failing(ana.id)).toMatchObject({ failures: 1 });
      // return=minimal sends only the mail: alone it is valid, but the user's data is still unusable.
      emu.tenant.updateUser(ana.id, { mail: 'ana.new@contoso.com' });
      const r = await H().sync();
      expect(r.status).toBe('succeeded');
      expect(await failing(ana.id)).toBeDefined();
      expect(await H().row('ana@contoso.com')).toMatchObject({
        active: 1,
        display_name: 'ana',
        email: 'ana@contoso.com',
      });
      emu.tenant.updateUser(ana.id, { displayName: 'Ana' });
      await H().sync();
      expect(await H().row('ana@contoso.com')).toMatchObject({
        display_name: 'Ana',
        email: 'ana.new@contoso.com',
      });
      expect(await failing(ana.id)).toBeUndefined();
    });

    it('left scope while unusable and not due: the disable is applied', async () => {
      const { ana } = await linked(kind);
      emu.tenant.updateUser(ana.id, { displayName: 'bad\u0002' });
      await H().sync();
      expect(await failing(ana.id)).toBeDefined();
      emu.tenant.unassign(ana.id);
      const r = await H().sync();
      expect(r.status).toBe('succeeded');
      expect(await H().row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'ana' });
    });

    it('soft-deleted while unusable: disabled; purged: deleted', async () => {
      const { ana } = await linked(kind);
      emu.tenant.updateUser(ana.id, { displayName: 'bad\u0003' });
      await H().sync();
      emu.tenant.softDeleteUser(ana.id);
      await H().sync();
      expect(await H().row('ana@contoso.com')).toMatchObject({ active: 0 });
      emu.tenant.hardDeleteUser(ana.id);
      const r = await H().sync();
      expect(r.status).toBe('succeeded');
      expect(await H().row('ana@contoso.com')).toBeUndefined();
    });
  });

  describe('a linked user with unusable data in full rounds', () => {
    const rounds: [string, (kind: StoreKind) => Promise<Awaited<ReturnType<StoreHarness['sync']>>>][] = [
      [
        'the delta token expired',
        async () => {
          emu.tenant.expireDeltaTokens();
          return H().sync();
        },
      ],
      ['resync', () => H().sync({ forced: true })],
      [
        'changed scope settings',
        async (kind) => {
          extra = await storeHarness(emu, kind, {
            sameStoreAs: H(),
            env: strategyEnv,
            settings: { scope: { expandNestedGroups: true } },
          });
          const r = await extra.sync();
          expect(r.kind).toBe('initial');
          return r;
        },
      ],
      [
        'changed mappings',
        async (kind) => {
          const mappings = [
            { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
            { target: 'emails[type eq "work"].value', direct: 'mail' },
            { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
            { target: 'displayName', direct: 'displayName' },
            { target: 'title', direct: 'jobTitle' },
          ];
          extra = await storeHarness(emu, kind, {
            sameStoreAs: H(),
            env: strategyEnv,
            settings: { mappings },
          });
          const r = await extra.sync();
          expect(r.kind).toBe('initial');
          return r;
        },
      ],
    ];
    for (const strategy of ['tenant', 'scoped'] as const) {
      it.each(rounds)(`${strategy} read, %s: the round succeeds, the disable is applied`, async (_, run) => {
        strategyEnv = { ENTRASYNC_USERS_STRATEGY: strategy };
        const ids = await linked(kind);
        const { ana, bob } = ids;
        emu.tenant.updateUser(ana.id, { displayName: 'bad\u0007', accountEnabled: false });
        emu.tenant.updateUser(bob.id, { displayName: 'Bob B' });
        const r = await run(kind);
        expect(r.status).toBe('succeeded');
        const store = extra ?? H();
        expect(await store.row('ana@contoso.com')).toMatchObject({ active: 0, display_name: 'ana' });
        expect(await store.row('bob@contoso.com')).toMatchObject({ active: 1, display_name: 'Bob B' });
        expect((await buildStatus(store.rt.store)).failingUsers.users.map((u) => u.entraId)).toEqual([
          ana.id,
        ]);
        // And the next full round too.
        const again = await store.sync({ forced: true });
        expect(again.status).toBe('succeeded');
      });
    }
  });

  describe('a malformed element fails alone', () => {
    const badMember = { '@odata.type': '#microsoft.graph.user', id: 'not-a-guid' };

    it('a malformed member of a groups/delta change: the rest of the change is applied, audited once', async () => {
      const { cho, group } = await linked(kind);
      const dan = createEnabledUser(emu, 'dan@contoso.com');
      emu.tenant.addMember(group.id, dan.id);
      await H().sync();
      expect(await H().row('dan@contoso.com')).toMatchObject({ active: 1 });

      emu.tenant.setFaults({ malformedElement: { memberOf: { groupId: group.id, member: badMember } } });
      const eve = createEnabledUser(emu, 'eve@contoso.com');
      emu.tenant.removeMember(group.id, cho.id);
      emu.tenant.addMember(group.id, eve.id);
      const r = await H().sync();
      expect(r.status).toBe('succeeded');
      expect(await H().row('cho@contoso.com')).toMatchObject({ active: 0 }); // the removal is not lost
      expect(await H().row('eve@contoso.com')).toMatchObject({ active: 1 });
      expect(await H().row('dan@contoso.com')).toMatchObject({ active: 1 });
      const bad = () => errors((e) => /not-a-guid/.test(e.reason ?? ''));
      expect(await bad()).toHaveLength(1);
      expect((await bad())[0]!.reason).toContain(group.id);
      expect((await bad())[0]!.reason).toMatch(/member/);

      // Full groups rounds list the group, and its bad member, again: not audited again.
      emu.tenant.expireDeltaTokens();
      const full = await H().sync();
      expect(full.status).toBe('succeeded');
      await H().sync({ forced: true });
      expect(await bad()).toHaveLength(1);
      expect((await H().rows()).filter((row) => row.active === 1).map((row) => row.user_name)).toEqual([
        'ana@contoso.com',
        'bob@contoso.com',
        'dan@contoso.com',
        'eve@contoso.com',
      ]);
    });

    it.each([
      ['a non-GUID principal', { principalId: 'not-a-guid', principalType: 'User' }, /not-a-guid/],
      [
        'an unknown principal type',
        { principalId: '7d3f2a52-52c8-4a43-bc4a-2f1d5a0b9e01', principalType: 'Device' },
        /7d3f2a52-52c8-4a43-bc4a-2f1d5a0b9e01/,
      ],
    ])('an assignment with %s: the others are applied, audited once', async (_, assignment, named) => {
      const { ana } = await linked(kind);
      emu.tenant.setFaults({ malformedElement: { assignment } });
      const fay = createEnabledUser(emu, 'fay@contoso.com');
      emu.tenant.assign(fay.id, 'User');
      emu.tenant.unassign(ana.id);
      const r = await H().sync();
      expect(r.status).toBe('succeeded');
      expect(await H().row('fay@contoso.com')).toMatchObject({ active: 1 });
      expect(await H().row('ana@contoso.com')).toMatchObject({ active: 0 });
      const bad = () => errors((e) => named.test(e.reason ?? ''));
      expect(await bad()).toHaveLength(1);
      expect((await bad())[0]!.reason).toMatch(/assignment/);
      const again = await H().sync();
      expect(again.status).toBe('succeeded');
      expect(await bad()).toHaveLength(1);
      expect(await H().row('bob@contoso.com')).toMatchObject({ active: 1 });
    });
  });
});
