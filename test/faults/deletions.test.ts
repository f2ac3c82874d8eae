/** Accidental-deletion prevention: held disables and deletes, approve, reject, cause fixed, resync. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { buildStatus } from '../../src/sync/status.js';
import { readiness } from '../../src/daemon/readiness.js';
import { startTestEmulator } from '../support/emulator.js';
import { runCli } from '../support/harness.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

let emu: RunningEmulator;
let h: StoreHarness;
let ids: string[];

const threshold = { safety: { deletionThreshold: { enabled: true, count: 3, percent: null } } };

describe.each(STORE_KINDS)('on %s', (kind) => {
  beforeEach(async () => {
    emu = await startTestEmulator({ pageSize: 4 });
    ids = [];
    for (let i = 0; i < 10; i++) {
      const u = emu.tenant.createUser({
        userPrincipalName: `p${i}@contoso.com`,
        displayName: `P ${i}`,
        accountEnabled: true,
      });
      emu.tenant.assign(u.id, 'User');
      ids.push(u.id);
    }
    h = await storeHarness(emu, kind, { settings: threshold });
    expect((await h.sync()).counts.create).toBe(10);
  });
  afterEach(async () => {
    await h.close();
    await emu.close();
  });

  const active = async () => (await h.rows()).filter((r) => r.active === 1).length;

  describe('the deletion threshold', () => {
    it('applies disables and deletes within the threshold', async () => {
      emu.tenant.unassign(ids[0]!);
      emu.tenant.hardDeleteUser(ids[1]!);
      const r = await h.sync();
      expect(r.counts).toMatchObject({ disable: 1, delete: 1, staged: 0 });
      expect(await h.rows()).toHaveLength(9);
      expect((await buildStatus(h.rt.store)).deletions.held).toBe(false);
    });

    it('holds every disable and delete of a cycle above it; creates and updates still flow', async () => {
      for (const id of ids.slice(0, 3)) emu.tenant.unassign(id);
      emu.tenant.softDeleteUser(ids[3]!);
      emu.tenant.hardDeleteUser(ids[4]!);
      emu.tenant.updateUser(ids[5]!, { displayName: 'Renamed' });
      const newcomer = emu.tenant.createUser({ userPrincipalName: 'new@contoso.com', accountEnabled: true });
      emu.tenant.assign(newcomer.id, 'User');

      const r = await h.sync();
      expect(r.status).toBe('succeeded');
      expect(r.counts).toMatchObject({ disable: 0, delete: 0, staged: 5, update: 1, create: 1 });
      expect(await h.rows()).toHaveLength(11);
      expect(await active()).toBe(11);
      expect((await h.row('p5@contoso.com'))?.display_name).toBe('Renamed');

      const audit = (await h.rt.store.audit.query({ limit: 100 })).filter((e) =>
        e.action.startsWith('staged-'),
      );
      expect(audit.map((e) => e.action).sort()).toEqual([
        'staged-delete',
        'staged-disable',
        'staged-disable',
        'staged-disable',
        'staged-disable',
      ]);
      expect(
        audit.every(
          (e) =>
            e.status === 'skipped' &&
            /held: 5 disables and deletes exceed the threshold of 3/.test(e.reason!),
        ),
      ).toBe(true);
      const status = await buildStatus(h.rt.store);
      expect(status.deletions).toMatchObject({ held: true, count: 5 });
      const ready = await readiness(h.rt.store, 3600);
      expect(ready.ready).toBe(false);
      expect(ready.reason).toMatch(/5 disables and deletes are held/);
      expect(
        h
          .logs()
          .some((l) => l.level === 40 && /held by the accidental-deletion threshold/.test(String(l.msg))),
      ).toBe(true);

      // While held, later cycles hold their disables too and apply nothing destructive.
      emu.tenant.unassign(ids[6]!);
      const again = await h.sync();
      expect(again.counts).toMatchObject({ disable: 0, staged: 1 });
      expect(await active()).toBe(11);
    });

    it('approve-deletions re-checks against Graph and applies what still holds', async () => {
      for (const id of ids.slice(0, 5)) emu.tenant.unassign(id);
      await h.sync();
      expect((await buildStatus(h.rt.store)).deletions.count).toBe(5);
      emu.tenant.assign(ids[0]!, 'User'); // one of them came back meanwhile

      const r = await runCli(['approve-deletions', '--json'], h.env);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ disabled: 4, stillHeld: 0 });
      expect((await h.row('p0@contoso.com'))?.active).toBe(1);
      for (let i = 1; i < 5; i++) expect((await h.row(`p${i}@contoso.com`))?.active).toBe(0);
      expect((await buildStatus(h.rt.store)).deletions.held).toBe(false);
      const disables = (await h.rt.store.audit.query({ action: 'disable' })).map((e) => e.entraId).sort();
      expect(disables).toEqual(ids.slice(1, 5).sort());
    });

    it('reject-deletions keeps them unapplied and the job held until the cause is fixed', async () => {
      for (const id of ids.slice(0, 4)) emu.tenant.unassign(id);
      await h.sync();
      const r = await runCli(['reject-deletions'], h.env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Rejected 4 held changes/);
      await h.sync();
      expect(await active()).toBe(10);
      expect((await buildStatus(h.rt.store)).deletions).toMatchObject({ held: true, rejected: 4 });

      for (const id of ids.slice(0, 4)) emu.tenant.assign(id, 'User'); // the cause is fixed
      await h.sync();
      expect((await buildStatus(h.rt.store)).deletions).toMatchObject({ held: false, count: 0 });
      expect(await active()).toBe(10);
    });

    it('a resync plans afresh: still over the threshold, it holds again', async () => {
      for (const id of ids.slice(0, 4)) emu.tenant.unassign(id);
      await h.sync();
      const r = await h.sync({ forced: true });
      expect(r.counts.staged).toBe(4);
      expect(await active()).toBe(10);
    });

    it('the percentage limit counts against linked users', async () => {
      await h.close();
      h = await storeHarness(emu, kind, {
        settings: { safety: { deletionThreshold: { enabled: true, count: null, percent: 10 } } },
      });
      await h.sync(); // a new store: its initial cycle links the 10 users, nothing to disable
      const more: string[] = [];
      for (let i = 0; i < 30; i++) {
        const u = emu.tenant.createUser({ userPrincipalName: `q${i}@contoso.com`, accountEnabled: true });
        emu.tenant.assign(u.id, 'User');
        more.push(u.id);
      }
      await h.sync();
      for (const id of more.slice(0, 10)) emu.tenant.unassign(id); // 10 of 40 linked = 25% > 10%
      const r = await h.sync();
      expect(r.counts).toMatchObject({ staged: 10, disable: 0 });
    });
  });
});
