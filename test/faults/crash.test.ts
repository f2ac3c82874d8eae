/**
 * SIGKILL at seeded random points of initial and incremental cycles, on each store (SQLite, and the
 * test run's PostgreSQL). After each kill the next run must converge: exactly the expected users,
 * nothing lost or duplicated, and an audit entry for every change that reached the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { killDuringCycle, seededRandom } from '../support/crash.js';
import { emulatorEnv, runCli, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, testStore, type TestStore } from '../support/stores.js';

const SEED = Number(process.env.ENTRASYNC_CRASH_SEED ?? 20261128);
const KILLS_PER_PHASE = 12;

let emu: RunningEmulator;
let store: TestStore;
let env: Record<string, string>;
const ids: string[] = [];
const kills: { phase: string; afterMs: number }[] = [];

const random = seededRandom(SEED);

type AuditRow = { entra_id: string | null; action: string; status: string };

/** The audit agrees with the store: one create or link per linked row, and the latest entry matches its state. */
async function expectAuditMatchesStore() {
  const audit = await store.query<AuditRow>('SELECT entra_id, action, status FROM t.audit ORDER BY seq');
  const byUser = new Map<string, AuditRow[]>();
  for (const e of audit)
    if (e.entra_id && e.status === 'success') byUser.set(e.entra_id, [...(byUser.get(e.entra_id) ?? []), e]);
  for (const row of await store.users()) {
    const entries = byUser.get(row.external_id!) ?? [];
    expect(
      entries.filter((e) => e.action === 'create' || e.action === 'link'),
      row.user_name,
    ).toHaveLength(1);
    const last = entries.filter((e) => ['create', 'link', 'enable', 'disable'].includes(e.action)).at(-1)!;
    expect(last.action === 'disable' ? 0 : 1, `${row.user_name}: ${last.action}`).toBe(row.active);
  }
}

const pendingCount = async () =>
  (await store.query<{ n: number }>('SELECT CAST(count(*) AS INTEGER) AS n FROM t.pending_users'))[0]!.n;
const cycleStatuses = async () =>
  (await store.query<{ status: string }>('SELECT status FROM t.cycles ORDER BY started_at DESC')).map(
    (c) => c.status,
  );

describe.each(STORE_KINDS)('crash safety on %s (seed ' + SEED + ')', (kind) => {
  beforeAll(async () => {
    emu = await startTestEmulator({ pageSize: 5 });
    for (let i = 0; i < 80; i++) {
      const u = emu.tenant.createUser({
        userPrincipalName: `crash${String(i).padStart(3, '0')}@contoso.com`,
        displayName: `Crash ${i}`,
        mail: `crash${i}@contoso.com`,
        accountEnabled: true,
      });
      emu.tenant.assign(u.id, 'User');
      ids.push(u.id);
    }
    const dir = tempDir();
    writeSettings(dir);
    store = await testStore(kind, dir);
    // Paging the whole tenant (16 pages) keeps the initial round long enough to be killed in; with 80
    // users in scope, reading them by id would be a handful of requests.
    env = emulatorEnv(emu, dir, {
      ENTRASYNC_DB: store.db,
      ENTRASYNC_LOG_LEVEL: 'info',
      ENTRASYNC_USERS_STRATEGY: 'tenant',
    });
    // 16 pages of users at 20 ms: a round takes a few hundred ms, even with the users read while the
    // assignments are listed (at 8 ms, half the kills of the initial phase landed after the cycle).
    emu.tenant.setFaults({ latencyMs: 20 });
  });
  afterAll(async () => {
    await store.close();
    await emu.close();
    console.log(`crash test on ${kind}: seed ${SEED}, ${kills.length} kills: ${JSON.stringify(kills)}`);
    kills.length = 0;
    ids.length = 0;
  });

  it('initial cycle: killed repeatedly, then completed, provisions every user exactly once', async () => {
    for (let i = 0; i < KILLS_PER_PHASE; i++) {
      const afterMs = Math.floor(random() * 400);
      if ((await killDuringCycle(afterMs, env)).killed) kills.push({ phase: 'initial', afterMs });
    }
    expect((await runCli(['sync'], env)).code).toBe(0);
    const rows = await store.users();
    expect(rows.map((r) => r.external_id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.active === 1)).toBe(true);
    await expectAuditMatchesStore();
  });

  it('incremental cycle: killed repeatedly, then completed, applies every change exactly', async () => {
    for (let i = 0; i < 20; i++) emu.tenant.updateUser(ids[i]!, { displayName: `v2 ${i}` });
    for (let i = 20; i < 30; i++) emu.tenant.unassign(ids[i]!);
    for (let i = 30; i < 35; i++) emu.tenant.softDeleteUser(ids[i]!);
    for (let i = 35; i < 38; i++) emu.tenant.hardDeleteUser(ids[i]!);
    const fresh: string[] = [];
    for (let i = 0; i < 5; i++) {
      const u = emu.tenant.createUser({ userPrincipalName: `late${i}@contoso.com`, accountEnabled: true });
      emu.tenant.assign(u.id, 'User');
      fresh.push(u.id);
    }
    for (let i = 0; i < KILLS_PER_PHASE; i++) {
      const afterMs = Math.floor(random() * 250);
      if ((await killDuringCycle(afterMs, env)).killed) kills.push({ phase: 'incremental', afterMs });
    }
    expect((await runCli(['sync'], env)).code).toBe(0);

    const rows = new Map((await store.users()).map((x) => [x.external_id!, x]));
    expect(rows.size).toBe(80 - 3 + 5);
    for (let i = 0; i < 20; i++)
      expect(rows.get(ids[i]!)).toMatchObject({ display_name: `v2 ${i}`, active: 1 });
    for (let i = 20; i < 35; i++) expect(rows.get(ids[i]!)?.active).toBe(0);
    for (let i = 35; i < 38; i++) expect(rows.has(ids[i]!)).toBe(false);
    for (let i = 38; i < 80; i++)
      expect(rows.get(ids[i]!)).toMatchObject({ display_name: `Crash ${i}`, active: 1 });
    for (const id of fresh) expect(rows.get(id)?.active).toBe(1);
    await expectAuditMatchesStore();
    expect(await pendingCount()).toBe(0);
    expect(kills.length).toBeGreaterThanOrEqual(20);
    const statuses = await cycleStatuses();
    expect(statuses[0]).toBe('succeeded');
    expect(statuses.filter((s) => s === 'aborted').length).toBeGreaterThanOrEqual(20);
  });

  it('slow Graph: pages written into a transaction kept open across pages, killed, then completed', async () => {
    // 40 ms per request is above SLOW_PAGE_MS: every page is written as it arrives, and the
    // transaction stays open for the next pages; a kill rolls back everything since its BEGIN.
    emu.tenant.setFaults({ latencyMs: 40 });
    for (let i = 38; i < 48; i++) emu.tenant.updateUser(ids[i]!, { displayName: `v3 ${i}` });
    const before = kills.length;
    for (let i = 0; i < 8; i++) {
      const afterMs = 150 + Math.floor(random() * 700);
      if ((await killDuringCycle(afterMs, env, { command: 'resync' })).killed)
        kills.push({ phase: 'slow resync', afterMs });
    }
    expect(kills.length - before).toBeGreaterThanOrEqual(6);
    expect((await runCli(['sync'], env)).code).toBe(0);
    emu.tenant.setFaults({ latencyMs: 20 });

    const rows = new Map((await store.users()).map((x) => [x.external_id!, x]));
    expect(rows.size).toBe(80 - 3 + 5);
    for (let i = 0; i < 20; i++)
      expect(rows.get(ids[i]!)).toMatchObject({ display_name: `v2 ${i}`, active: 1 });
    for (let i = 20; i < 35; i++) expect(rows.get(ids[i]!)?.active).toBe(0);
    for (let i = 38; i < 48; i++)
      expect(rows.get(ids[i]!)).toMatchObject({ display_name: `v3 ${i}`, active: 1 });
    for (let i = 48; i < 80; i++)
      expect(rows.get(ids[i]!)).toMatchObject({ display_name: `Crash ${i}`, active: 1 });
    await expectAuditMatchesStore();
    expect(await pendingCount()).toBe(0);
    expect((await cycleStatuses())[0]).toBe('succeeded');
  }, 60_000);
});
