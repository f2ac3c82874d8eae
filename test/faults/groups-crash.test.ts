/**
 * SIGKILL at seeded random points of cycles that create, rename, delete groups and add and remove
 * members, on each store. After the kills the next run must converge: exactly the expected groups
 * (same local ids across renames) and memberships, nothing lost or duplicated, one create audit row
 * per group, member audit rows that agree with the memberships, and nothing left marked pending.
 * Half the kills are aimed at the groups phase (a few ms after the first group change is logged);
 * in the incremental cycle those come first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { killDuringCycle, seededRandom } from '../support/crash.js';
import { emulatorEnv, runCli, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, testStore, type TestStore } from '../support/stores.js';

const SEED = Number(process.env.ENTRASYNC_CRASH_SEED ?? 20261130);
const KILLS_PER_PHASE = 10;

let emu: RunningEmulator;
let store: TestStore;
let env: Record<string, string>;
const users: string[] = [];
const groups: string[] = [];
const fillers: string[] = [];
const kills: { phase: string; afterMs: number; inGroups: boolean }[] = [];

const random = seededRandom(SEED);

/**
 * A `sync` killed `ms` after it logged `after` (the start of its cycle, or its first group change:
 * the groups phase, a few hundred ms into a cycle); whether the kill interrupted the cycle, and
 * whether it had written groups by then (the kill hit the groups phase).
 */
async function killSync(ms: number, after?: string): Promise<{ killed: boolean; inGroups: boolean }> {
  const { killed, output } = await killDuringCycle(ms, env, after ? { after } : {});
  return { killed, inGroups: output.includes('"group change"') };
}

/** The application's view: group (by Entra id) -> its local id, name and member userNames. */
async function groupState(): Promise<Map<string, { id: string; name: string; members: string[] }>> {
  const rows = await store.query<{ id: string; external_id: string; display_name: string }>(
    'SELECT id, external_id, display_name FROM t.groups',
  );
  const members = await store.query<{ group_id: string; user_name: string }>(
    'SELECT m.group_id, u.user_name FROM t.group_members m JOIN t.users u ON u.id = m.user_id',
  );
  return new Map(
    rows.map((r) => [
      r.external_id,
      {
        id: r.id,
        name: r.display_name,
        members: members
          .filter((m) => m.group_id === r.id)
          .map((m) => m.user_name)
          .sort(),
      },
    ]),
  );
}

const upn = (i: number) => `gc${String(i).padStart(3, '0')}@contoso.com`;
const upns = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => upn(from + k));

/**
 * The audit agrees with the store: one create per group row, no create for a group that is not
 * there unless a delete follows it; the last member row of a (group, user) pair says what the
 * membership is (none: added when its group was created, in the create row's count).
 */
async function expectAuditMatchesStore(state: Awaited<ReturnType<typeof groupState>>) {
  const audit = await store.query<{
    action: string;
    entra_id: string;
    group_id: string;
    user_id: string | null;
  }>(
    `SELECT action, entra_id, group_id, user_id FROM t.audit WHERE object_type = 'group' AND status = 'success' ORDER BY seq`,
  );
  for (const [entraId, g] of state) {
    const creates = audit.filter((a) => a.entra_id === entraId && a.action === 'create');
    expect(creates, g.name).toHaveLength(1);
    expect(creates[0]!.group_id).toBe(g.id);
  }
  const present = new Set(
    (
      await store.query<{ group_id: string; user_id: string }>(
        'SELECT group_id, user_id FROM t.group_members',
      )
    ).map((m) => `${m.group_id}/${m.user_id}`),
  );
  const last = new Map<string, string>();
  for (const a of audit) {
    if (a.action === 'add-member' || a.action === 'remove-member')
      last.set(`${a.group_id}/${a.user_id}`, a.action);
    // A deleted group's memberships go with it (by cascade; its delete row covers them).
    if (a.action === 'delete')
      for (const pair of last.keys()) if (pair.startsWith(`${a.group_id}/`)) last.set(pair, 'delete');
  }
  for (const [pair, action] of last)
    expect(present.has(pair), `${pair} ${action}`).toBe(action === 'add-member');
}

const pendingGroups = async () =>
  Number(
    (
      await store.query<{ n: number }>(
        'SELECT count(*) AS n FROM t.pending_groups WHERE plan = 1 OR members = 1',
      )
    )[0]!.n,
  );

describe.each(STORE_KINDS)('group crash safety on %s (seed ' + SEED + ')', (kind) => {
  beforeAll(async () => {
    emu = await startTestEmulator({ pageSize: 4 });
    for (let i = 0; i < 40; i++)
      users.push(
        emu.tenant.createUser({ userPrincipalName: upn(i), displayName: `GC ${i}`, accountEnabled: true }).id,
      );
    // Six groups of eight, the last overlapping the first; each assigned.
    for (let g = 0; g < 6; g++) {
      const members = users.slice(g * 6, g * 6 + 8);
      const group = emu.tenant.createGroup({ displayName: `Team ${g}`, members });
      emu.tenant.assign(group.id, 'Group');
      groups.push(group.id);
    }
    // Fourteen more groups that do not change: the groups phase of the initial cycle takes longer.
    for (let f = 0; f < 14; f++) {
      const filler = emu.tenant.createGroup({
        displayName: `Filler ${f}`,
        members: users.slice(f * 2, f * 2 + 2),
      });
      emu.tenant.assign(filler.id, 'Group');
      fillers.push(filler.id);
    }
    const dir = tempDir();
    // Small batches: the groups phase takes several transactions, so kills land inside it too.
    // The threshold is not under test here (a dozen users leave scope with the two groups).
    writeSettings(dir, {
      sync: { batchSize: 2, lockTtlSeconds: 5 },
      safety: { deletionThreshold: { enabled: false } },
    });
    store = await testStore(kind, dir);
    env = emulatorEnv(emu, dir, { ENTRASYNC_DB: store.db, ENTRASYNC_LOG_LEVEL: 'info' });
    emu.tenant.setFaults({ latencyMs: 20 });
  });
  afterAll(async () => {
    await store.close();
    await emu.close();
    console.log(`group crash test on ${kind}: seed ${SEED}, ${kills.length} kills: ${JSON.stringify(kills)}`);
    kills.length = 0;
    users.length = 0;
    groups.length = 0;
    fillers.length = 0;
  });

  it('initial cycle: killed repeatedly, then completed, provisions every group and membership exactly once', async () => {
    for (let i = 0; i < KILLS_PER_PHASE; i++) {
      // Every other kill aims at the groups phase: its group writes and the membership settlement.
      const afterMs = Math.floor(random() * (i % 2 ? 10 : 600));
      const { killed, inGroups } = await killSync(afterMs, i % 2 ? '"group change"' : undefined);
      if (killed) kills.push({ phase: 'initial', afterMs, inGroups });
    }
    expect((await runCli(['sync'], env)).code).toBe(0);
    const state = await groupState();
    expect([...state.keys()].sort()).toEqual([...groups, ...fillers].sort());
    for (let g = 0; g < 6; g++)
      expect(state.get(groups[g]!)).toMatchObject({
        name: `Team ${g}`,
        members: upns(g * 6, Math.min(g * 6 + 8, 40)),
      });
    await expectAuditMatchesStore(state);
    expect(await pendingGroups()).toBe(0);
    expect(kills.filter((k) => k.inGroups).length).toBeGreaterThanOrEqual(2);
  });

  it('incremental cycle with renames, member changes, an unassigned, a deleted and a new group converges', async () => {
    const before = await groupState();
    emu.tenant.updateGroup(groups[0]!, { displayName: 'Team zero' });
    emu.tenant.updateGroup(groups[1]!, { displayName: 'Team one' });
    emu.tenant.removeMember(groups[2]!, users[12]!);
    emu.tenant.removeMember(groups[2]!, users[13]!);
    emu.tenant.addMember(groups[3]!, users[39]!);
    emu.tenant.unassign(groups[4]!);
    emu.tenant.deleteGroup(groups[5]!);
    const fresh = emu.tenant.createGroup({ displayName: 'Late team', members: users.slice(0, 3) });
    emu.tenant.assign(fresh.id, 'Group');
    // The aimed kills first: an incremental cycle is short, and one that a kill at random misses
    // finishes, leaving no groups phase for the later kills to aim at.
    for (let i = 0; i < KILLS_PER_PHASE; i++) {
      const aimed = i < KILLS_PER_PHASE / 2;
      const afterMs = Math.floor(random() * (aimed ? 5 : 400));
      const { killed, inGroups } = await killSync(afterMs, aimed ? '"group change"' : undefined);
      if (killed) kills.push({ phase: 'incremental', afterMs, inGroups });
    }
    expect((await runCli(['sync'], env)).code).toBe(0);

    const state = await groupState();
    expect([...state.keys()].sort()).toEqual(
      [groups[0]!, groups[1]!, groups[2]!, groups[3]!, fresh.id, ...fillers].sort(),
    );
    for (const f of fillers) expect(state.get(f)).toEqual(before.get(f));
    expect(state.get(groups[0]!)).toEqual({ ...before.get(groups[0]!), name: 'Team zero' });
    expect(state.get(groups[1]!)).toEqual({ ...before.get(groups[1]!), name: 'Team one' });
    expect(state.get(groups[2]!)?.members).toEqual(upns(14, 20));
    expect(state.get(groups[3]!)?.members).toEqual([...upns(18, 26), upn(39)]);
    expect(state.get(fresh.id)).toMatchObject({ name: 'Late team', members: upns(0, 3) });
    await expectAuditMatchesStore(state);
    expect(await pendingGroups()).toBe(0);
    expect(kills.filter((k) => k.phase === 'incremental' && k.inGroups).length).toBeGreaterThanOrEqual(2);
    const deletes = await store.query<{ entra_id: string; reason_code: string }>(
      `SELECT entra_id, reason_code FROM t.audit WHERE object_type = 'group' AND action = 'delete' ORDER BY reason_code`,
    );
    expect(deletes).toEqual([
      { entra_id: groups[5]!, reason_code: 'deleted-in-entra' },
      { entra_id: groups[4]!, reason_code: 'unassigned' },
    ]);
  }, 60_000);
});
