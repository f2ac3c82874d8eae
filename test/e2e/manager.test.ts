/**
 * The enterprise extension's manager as a target, end to end against the emulator (HTTPS, msal-node,
 * the Graph client) on both stores: `manager.value` is the local id of the manager's row, or absent
 * when the manager has no row; reports follow their manager's row as it is created, changed,
 * deleted, in the cycle in which that happens.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { toUserChange } from '../../src/source/users.js';
import { startTestEmulator } from '../support/emulator.js';
import { runCli, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const MANAGER = `${ENTERPRISE}:manager`;

const mappings = [
  { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
  { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
  { target: 'displayName', direct: 'displayName' },
  { target: `${ENTERPRISE}:manager.value`, direct: 'manager' },
];

/** Ids in a known order: a batch is planned in id order. */
const idOf = (n: number) => `10000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

let emu: RunningEmulator;
let h: StoreHarness;

describe.each(STORE_KINDS)('the manager on %s', (kind) => {
  beforeEach(async () => {
    emu = await startTestEmulator({ pageSize: 3 });
    h = await storeHarness(emu, kind, { settings: { mappings } });
  });
  afterEach(async () => {
    await h.close();
    await emu.close();
  });

  const user = (n: number, assigned = true) => {
    const u = emu.tenant.createUser({
      id: idOf(n),
      userPrincipalName: `u${n}@contoso.com`,
      displayName: `U ${n}`,
    });
    if (assigned) emu.tenant.assign(u.id, 'User');
    return u.id;
  };
  /** The local id of the row linked to this Entra user. */
  const rowId = async (entraId: string) => {
    const row = (await h.rows()).find((r) => r.external_id === entraId);
    if (!row) throw new Error(`no row for ${entraId}`);
    return row.id;
  };
  /** The manager reference as the application reads it from the row's SCIM resource. */
  const managerOf = async (entraId: string) => {
    const row = (await h.rows()).find((r) => r.external_id === entraId)!;
    const scim = JSON.parse(row.scim) as Record<string, { manager?: { value: string } } | undefined>;
    return scim[ENTERPRISE]?.manager?.value ?? null;
  };
  const audit = (cycleId: string, entraId: string) =>
    h.store.query<{ action: string; modified: string }>(
      'SELECT action, modified FROM t.audit WHERE cycle_id = ? AND entra_id = ? ORDER BY seq',
      [cycleId, entraId],
    );
  const managerChanges = async (cycleId: string, entraId: string) =>
    (await audit(cycleId, entraId)).flatMap((a) =>
      (JSON.parse(a.modified) as { target: string; oldValue: unknown; newValue: unknown }[])
        .filter((m) => m.target === MANAGER)
        .map((m) => [a.action, m.oldValue, m.newValue]),
    );

  it('set, changed and removed: manager.value is the manager row’s local id, audited old → new', async () => {
    const [boss, other, report] = [user(1), user(2), user(3)];
    expect((await h.sync()).counts.create).toBe(3);
    expect(await managerOf(report)).toBeNull();

    emu.tenant.setManager(report, boss);
    let r = await h.sync();
    expect(await managerOf(report)).toBe(await rowId(boss));
    expect(await managerChanges(r.cycleId, report)).toEqual([['update', null, await rowId(boss)]]);
    const row = (await h.rows()).find((x) => x.external_id === report)!;
    expect(JSON.parse(row.scim).schemas).toContain(ENTERPRISE);
    // The application's query, as README "Attribute mappings" gives it for each store.
    const sql =
      kind === 'sqlite'
        ? `SELECT json_extract(scim, '$."${ENTERPRISE}".manager.value') AS manager FROM t.users WHERE external_id = ?`
        : `SELECT scim::jsonb -> '${ENTERPRISE}' -> 'manager' ->> 'value' AS manager FROM t.users WHERE external_id = ?`;
    expect(await h.store.query(sql, [report])).toEqual([{ manager: await rowId(boss) }]);

    emu.tenant.setManager(report, other);
    r = await h.sync();
    expect(await managerOf(report)).toBe(await rowId(other));
    expect(await managerChanges(r.cycleId, report)).toEqual([
      ['update', await rowId(boss), await rowId(other)],
    ]);

    emu.tenant.setManager(report, null);
    r = await h.sync();
    expect(await managerOf(report)).toBeNull();
    expect(await managerChanges(r.cycleId, report)).toEqual([['update', await rowId(other), null]]);
    // Nothing else moved: the boss and the other are untouched, and the next cycle is quiet.
    expect(await managerOf(boss)).toBeNull();
    expect((await h.sync()).counts.update).toBe(0);
  });

  it('a manager who enters the store later is resolved in the cycle that creates its row', async () => {
    const manager = user(1, false);
    const report = user(2);
    emu.tenant.setManager(report, manager);
    await h.sync();
    expect((await h.rows()).map((x) => x.external_id)).toEqual([report]);
    expect(await managerOf(report)).toBeNull();

    emu.tenant.assign(manager, 'User');
    const r = await h.sync();
    expect(r.counts.create).toBe(1);
    expect(await managerOf(report)).toBe(await rowId(manager));
    expect(await managerChanges(r.cycleId, report)).toEqual([['update', null, await rowId(manager)]]);
    expect(await h.rt.store.pending.count()).toBe(0);
  });

  it('a manager whose row is deleted, or who leaves Entra for the recycle bin: the reference becomes null', async () => {
    const [m1, m2, r1, r2] = [user(1), user(2), user(3), user(4)];
    emu.tenant.setManager(r1, m1);
    emu.tenant.setManager(r2, m2);
    await h.sync();
    expect(await managerOf(r1)).toBe(await rowId(m1));
    const m2Row = await rowId(m2);
    expect(await managerOf(r2)).toBe(m2Row);

    emu.tenant.hardDeleteUser(m1);
    emu.tenant.softDeleteUser(m2);
    let r = await h.sync();
    expect((await h.rows()).some((x) => x.external_id === m1)).toBe(false);
    expect(await managerOf(r1)).toBeNull();
    // The soft-deleted manager's row stays (disabled), but Entra no longer names it as manager.
    expect(await managerOf(r2)).toBeNull();
    expect(await managerChanges(r.cycleId, r2)).toEqual([['update', m2Row, null]]);

    // Restored: the same row, and its reports point at it again.
    emu.tenant.restoreUser(m2);
    r = await h.sync();
    expect(await rowId(m2)).toBe(m2Row);
    expect(await managerOf(r2)).toBe(m2Row);
    expect(await managerChanges(r.cycleId, r2)).toEqual([['update', null, m2Row]]);
  });

  it('a report and its manager created in the same batch, in either order, resolve in that cycle', async () => {
    // Report before its manager in id order, and after it.
    const [early, lateBoss, earlyBoss, late] = [
      user(1, false),
      user(2, false),
      user(3, false),
      user(4, false),
    ];
    emu.tenant.setManager(early, lateBoss);
    emu.tenant.setManager(late, earlyBoss);
    const bystander = user(5);
    await h.sync();
    expect((await h.rows()).map((x) => x.external_id)).toEqual([bystander]);

    for (const id of [early, lateBoss, earlyBoss, late]) emu.tenant.assign(id, 'User');
    const r = await h.sync();
    expect(r.counts.create).toBe(4);
    expect(await managerOf(early)).toBe(await rowId(lateBoss));
    expect(await managerOf(late)).toBe(await rowId(earlyBoss));
    expect(await h.rt.store.pending.count()).toBe(0);
    // A report planned before its manager's row existed is created without it, then updated.
    expect((await audit(r.cycleId, early)).map((a) => a.action)).toEqual(['create', 'update']);
  });

  it('a report and its manager both created from the pending queue (a retry) resolve in that cycle', async () => {
    await h.close();
    // Linking off: a local row holding the userName makes the Entra user fail (escrow) until it goes.
    const noLinking = mappings.map(({ matchingPrecedence: _, ...m }) => m);
    h = await storeHarness(emu, kind, { settings: { mappings: noLinking } });
    const [report, boss] = [user(1), user(2)];
    emu.tenant.setManager(report, boss);
    for (const name of ['u1@contoso.com', 'u2@contoso.com'])
      await h.store.query('INSERT INTO t.users (id, user_name) VALUES (?, ?)', [`local-${name}`, name]);
    const failed = await h.sync();
    expect(failed.counts.error).toBe(2);
    expect((await h.rows()).every((x) => x.external_id === null)).toBe(true);

    await h.store.query("DELETE FROM t.users WHERE id LIKE 'local-%'");
    expect(await h.rt.store.pending.retryFailed()).toBe(2);
    const r = await h.sync();
    expect(r.counts.create).toBe(2);
    expect(await managerOf(report)).toBe(await rowId(boss));
    expect((await audit(r.cycleId, report)).map((a) => a.action)).toEqual(['create', 'update']);
  });

  it('provision on demand (the built CLI) reads the manager by id: kept when set, cleared when removed', async () => {
    const [boss, report] = [user(1), user(2)];
    emu.tenant.setManager(report, boss);
    await h.sync();
    const bossRow = await rowId(boss);
    let r = await runCli(['provision', 'u2@contoso.com', '--json'], h.env);
    expect(r.code).toBe(0);
    expect(await managerOf(report)).toBe(bossRow);

    emu.tenant.setManager(report, null);
    r = await runCli(['provision', report, '--json'], h.env);
    expect(r.code).toBe(0);
    expect(await managerOf(report)).toBeNull();
  });

  it('the first cycle resolves every manager, a cycle of managers (A manages B, B manages A) included', async () => {
    const [a, b, c] = [user(1), user(2), user(3)];
    emu.tenant.setManager(a, b);
    emu.tenant.setManager(b, a);
    emu.tenant.setManager(c, a);
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(await managerOf(a)).toBe(await rowId(b));
    expect(await managerOf(b)).toBe(await rowId(a));
    expect(await managerOf(c)).toBe(await rowId(a));
    expect(await h.rt.store.pending.count()).toBe(0);
    // Stable: the next cycle changes nothing.
    const next = await h.sync();
    expect(next.counts.update).toBe(0);
    expect(next.counts.create).toBe(0);
  });
});

describe('the manager mapping and manager@delta, as read', () => {
  const ref = (id: string) => ({ '@odata.type': '#microsoft.graph.user', id });
  const gone = (id: string) => ({ ...ref(id), '@removed': { reason: 'deleted' } });
  const [user, boss, other] = [idOf(1), idOf(2), idOf(3)];

  it.each([
    ['none in a full round: no manager attribute', {}, undefined],
    ['set', { 'manager@delta': [ref(boss)] }, boss],
    ['changed: the one not removed', { 'manager@delta': [gone(boss), ref(other)] }, other],
    ['removed', { 'manager@delta': [gone(boss)] }, null],
  ])('manager@delta %s', (_name, annotation, manager) => {
    const change = toUserChange({ id: user, displayName: 'U', ...annotation });
    expect(change).toEqual({
      kind: 'upsert',
      id: user,
      attributes: { displayName: 'U', ...(manager === undefined ? {} : { manager }) },
    });
  });

  it.each([
    ['not a list', { id: boss }],
    ['a reference without a valid id', [{ id: 'nope' }]],
  ])('a malformed manager@delta (%s) fails that user only, keeping a decisive disable', (_name, refs) => {
    expect(toUserChange({ id: user, accountEnabled: false, 'manager@delta': refs })).toEqual({
      kind: 'invalid',
      id: user,
      problem: expect.stringMatching(/^manager@delta /),
      disabled: true,
    });
  });

  it.each([
    [
      'an expression',
      { expression: 'Coalesce([manager], "")' },
      /expression: the manager is mapped only from "direct: manager"/,
    ],
    [
      'another attribute',
      { direct: 'employeeId' },
      /direct: the manager is mapped only from "direct: manager"/,
    ],
    [
      'a default value',
      { direct: 'manager', defaultValue: 'x' },
      /defaultValue: not allowed on the manager reference/,
    ],
    ['a sub-attribute', { direct: 'manager', target: `${MANAGER}.displayName` }, /mapped as a whole/],
  ])(
    'a manager mapped from %s: mappings check exits 2 naming the mapping',
    async (_name, source, message) => {
      const dir = tempDir();
      writeSettings(dir, { mappings: [...mappings.slice(0, 3), { target: MANAGER, ...source }] });
      const r = await runCli(['mappings', 'check'], { ENTRASYNC_CONFIG: join(dir, 'settings.yaml') });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/mappings\[3\]/);
      expect(r.stderr).toMatch(message);
    },
  );
});
