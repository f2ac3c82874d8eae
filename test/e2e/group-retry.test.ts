/**
 * A failing group is retried with growing spacing, like a failing user (README, "Groups"): the
 * engine against the emulator over HTTPS on both stores, the built CLI for `retry`, `status` and
 * `provision`. The failure is the planner's: two unlinked local groups of the group's display name.
 * Time passing is the store's retry_after moved into the past, so no test waits out a spacing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { publicStatus } from '../../src/daemon/public-status.js';
import { buildStatus } from '../../src/sync/status.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { runCli } from '../support/harness.js';
import { NEVER_DURING_TEST } from '../daemon/fixture.js';
import { cycleFinished, metric, startDaemon } from '../daemon/support.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

const HOUR = 3600;

describe.each(STORE_KINDS)('a failing group on %s', (kind) => {
  let emu: RunningEmulator;
  let h: StoreHarness;
  let ada: string, bob: string;

  beforeEach(async () => {
    emu = await startTestEmulator({ pageSize: 3 });
    ada = createEnabledUser(emu, 'ada@contoso.com').id;
    bob = createEnabledUser(emu, 'bob@contoso.com').id;
    emu.tenant.assign(ada, 'User');
    emu.tenant.assign(bob, 'User');
    h = await storeHarness(emu, kind, {
      settings: { safety: { retry: { baseSeconds: HOUR, maxSeconds: 24 * HOUR } } },
    });
    expect((await h.sync()).status).toBe('succeeded');
    // The application's own groups: two of one name, so an Entra group of that name cannot link.
    await h.store.query(
      `INSERT INTO t.groups (id, display_name) VALUES ('local-1', 'Engineering'), ('local-2', 'ENGINEERING')`,
    );
  });
  afterEach(async () => {
    await h?.close();
    await emu.close();
  });

  /** The group's error audit rows, oldest first. */
  const errorRows = (entraId: string) =>
    h.store.query<{ cycle_id: string; reason_code: string }>(
      `SELECT cycle_id, reason_code FROM t.audit WHERE object_type = 'group' AND action = 'error' AND entra_id = ?
       ORDER BY seq`,
      [entraId],
    );
  const mark = async (entraId: string) =>
    (
      await h.store.query<{ failures: number; last_error: string | null; retry_after: string | null }>(
        'SELECT failures, last_error, retry_after FROM t.pending_groups WHERE entra_id = ?',
        [entraId],
      )
    )[0];
  const spacingSeconds = async (entraId: string) =>
    (Date.parse((await mark(entraId))!.retry_after!) - Date.now()) / 1000;
  /** The spacing has passed, as if the clock had moved on. */
  const spacingPassed = () =>
    h.store.query(`UPDATE t.pending_groups SET retry_after = '2000-01-01T00:00:00.000Z' WHERE failures > 0`);
  const linkedTo = async (entraId: string) =>
    (
      await h.store.query<{ id: string; display_name: string }>(
        'SELECT id, display_name FROM t.groups WHERE external_id = ?',
        [entraId],
      )
    )[0];
  const members = async (groupId: string) =>
    (
      await h.store.query<{ user_name: string }>(
        'SELECT u.user_name FROM t.group_members m JOIN t.users u ON u.id = m.user_id WHERE m.group_id = ?',
        [groupId],
      )
    ).map((r) => r.user_name);

  it('fails once per spacing, not every cycle; retried with a doubled spacing; a rename makes it due and it is created', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada] });
    const ops = emu.tenant.createGroup({ displayName: 'Operations', members: [bob] });
    emu.tenant.assign(eng.id, 'Group');
    emu.tenant.assign(ops.id, 'Group');

    const first = await h.sync();
    expect(first.status).toBe('succeeded');
    expect(first.groupCounts).toMatchObject({ create: 1, error: 1 });
    // The other group of the cycle is created with its members.
    expect(await members((await linkedTo(ops.id))!.id)).toEqual(['bob@contoso.com']);
    expect(await errorRows(eng.id)).toEqual([{ cycle_id: first.cycleId, reason_code: 'conflict' }]);
    expect(await mark(eng.id)).toMatchObject({
      failures: 1,
      last_error: expect.stringMatching(/2 local groups/),
    });
    expect(await spacingSeconds(eng.id)).toBeGreaterThan(HOUR - 60);
    expect(await spacingSeconds(eng.id)).toBeLessThanOrEqual(HOUR);

    // Inside its spacing: cycles pass it by, with no new error row.
    for (let i = 0; i < 3; i++) expect((await h.sync()).groupCounts.error).toBe(0);
    expect(await errorRows(eng.id)).toHaveLength(1);

    const status = JSON.parse((await runCli(['status', '--json'], h.env)).stdout) as {
      failingGroups: { count: number };
      failingUsers: { count: number };
    };
    expect(status.failingGroups).toEqual({ count: 1 });
    expect(status.failingUsers.count).toBe(0);
    expect((await runCli(['status'], h.env)).stdout).toMatch(
      /Failing groups: 1 \(retried with growing spacing/,
    );
    // The daemon's /status document carries the count too, and /metrics the gauge the alert reads.
    expect(publicStatus(await buildStatus(h.rt.store)).failingGroups).toEqual({ count: 1 });
    const daemon = await startDaemon({
      ...h.env,
      ENTRASYNC_SCHEDULE: NEVER_DURING_TEST,
      ENTRASYNC_LOG_LEVEL: 'info',
    });
    try {
      expect((await daemon.waitFor(cycleFinished)).msg).toBe('cycle finished');
      const metrics = (await daemon.get('/metrics')).body;
      expect(metric(metrics, 'entrasync_failing_groups')).toBe(1);
      expect(metric(metrics, 'entrasync_failing_users')).toBe(0);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
    expect(await errorRows(eng.id)).toHaveLength(1);

    // The spacing passed: retried, failing again, the spacing doubled.
    await spacingPassed();
    const retried = await h.sync();
    expect(retried.groupCounts.error).toBe(1);
    expect(await errorRows(eng.id)).toHaveLength(2);
    expect(await mark(eng.id)).toMatchObject({ failures: 2 });
    expect(await spacingSeconds(eng.id)).toBeGreaterThan(2 * HOUR - 60);
    expect((await h.sync()).groupCounts.error).toBe(0);

    // A membership change alone does not make it due (members are recomputed apart).
    emu.tenant.addMember(eng.id, bob);
    expect((await h.sync()).groupCounts.error).toBe(0);
    expect(await errorRows(eng.id)).toHaveLength(2);

    // A rename in Entra is a new fact: due at once, and the conflict is gone with the old name.
    emu.tenant.updateGroup(eng.id, { displayName: 'Platform' });
    const renamed = await h.sync();
    expect(renamed.groupCounts).toMatchObject({ create: 1, error: 0 });
    const row = (await linkedTo(eng.id))!;
    expect(row.display_name).toBe('Platform');
    expect((await members(row.id)).sort()).toEqual(['ada@contoso.com', 'bob@contoso.com']);
    expect(await mark(eng.id)).toBeUndefined();
    expect((await buildStatus(h.rt.store)).failingGroups.count).toBe(0);
    // The application's own groups are untouched.
    expect(await h.store.query('SELECT id FROM t.groups WHERE external_id IS NULL ORDER BY id')).toEqual([
      { id: 'local-1' },
      { id: 'local-2' },
    ]);
  });

  it('retry makes it due at once (all, or by name); provision plans it now; with the cause gone it is created', async () => {
    const eng = emu.tenant.createGroup({ displayName: 'Engineering', members: [ada] });
    emu.tenant.assign(eng.id, 'Group');
    expect((await h.sync()).groupCounts.error).toBe(1);
    expect((await h.sync()).groupCounts.error).toBe(0);

    const all = await runCli(['retry', '--all'], h.env);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe('1 failing groups will be retried in the next cycle.\n');
    const usage = await runCli(['retry', '--group', eng.id, '--all'], h.env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('give either --user or --all, or --group');
    expect((await h.sync()).groupCounts.error).toBe(1);
    expect(await mark(eng.id)).toMatchObject({ failures: 2 });

    const none = await runCli(['retry', '--group', 'Operations'], h.env);
    expect(none.stdout).toContain('No failing group matches.');
    const byName = await runCli(['retry', '--group', 'engineering'], h.env);
    expect(byName.stdout).toContain('1 failing groups will be retried in the next cycle');
    expect((await h.sync()).groupCounts.error).toBe(1);
    const byId = await runCli(['retry', '--group', eng.id], h.env);
    expect(byId.stdout).toContain('1 failing groups will be retried');
    expect((await h.sync()).groupCounts.error).toBe(1);
    expect(await errorRows(eng.id)).toHaveLength(4);
    expect(await mark(eng.id)).toMatchObject({ failures: 4 });

    // Provision on demand does not wait for the spacing: it plans the group now.
    const failed = await runCli(['provision', '--group', eng.id, '--json'], h.env);
    expect(JSON.parse(failed.stdout)).toMatchObject({ action: 'error' });
    expect(await errorRows(eng.id)).toHaveLength(5);

    // The application removes one of its two groups: the next provision links the other.
    await h.store.query(`DELETE FROM t.groups WHERE id = 'local-2'`);
    const linked = await runCli(['provision', '--group', eng.id, '--json'], h.env);
    expect(JSON.parse(linked.stdout)).toMatchObject({ action: 'link', group: { members: 1 } });
    expect(await linkedTo(eng.id)).toMatchObject({ id: 'local-1' });
    expect(await mark(eng.id)).toBeUndefined();
    expect(JSON.parse((await runCli(['status', '--json'], h.env)).stdout)).toMatchObject({
      failingGroups: { count: 0 },
    });
  });
});
