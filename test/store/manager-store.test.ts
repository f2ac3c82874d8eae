/**
 * The store's side of the manager reference, on both stores: knownUsers resolves the manager the
 * mirror names to its linked row; applyBatch makes a manager's reports pending when its row is
 * created, linked or deleted, after settling the batch's own users (so a report planned in the same
 * batch stays pending).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PlannedAction, StoreUser } from '../../src/plan/types.js';
import type { UserStore, WriteBatch } from '../../src/store/index.js';
import { RETRY_SPACING, createAction, storeFactories } from '../support/stores.js';

const factories = storeFactories('manager');

const BOSS = '00000000-0000-0000-0000-0000000000b0';
const R1 = '00000000-0000-0000-0000-0000000000a1';
const R2 = '00000000-0000-0000-0000-0000000000a2';
const OTHER = '00000000-0000-0000-0000-0000000000c0';
const retry = RETRY_SPACING;
const create = createAction;
const mirror = (entraId: string, manager?: string | null) => ({
  op: 'upsert' as const,
  entraId,
  attributes: { userPrincipalName: `${entraId}@x.test`, ...(manager === undefined ? {} : { manager }) },
  generation: 1,
});

describe.each(factories)('the manager reference on $name', ({ open }) => {
  let store: UserStore;
  afterEach(() => store.close());
  const apply = (batch: Omit<WriteBatch, 'cycleId' | 'retry'>) =>
    store.write(() => store.applyBatch({ cycleId: 'c1', retry, ...batch }), 'test');
  const pending = async () => (await store.pending.dueAfter('', 100, 'c2')).sort();

  it('knownUsers: the manager the mirror names, with its row id once it has one', async () => {
    store = await open();
    await apply({ mirror: [mirror(R1, BOSS), mirror(R2, null), mirror(BOSS)] });
    let known = await store.knownUsers([R1, R2, BOSS], { appRoles: false });
    expect(known.get(R1)!.manager).toEqual({ entraId: BOSS, rowId: null });
    expect(known.get(R2)!.manager).toBeUndefined();
    expect(known.get(BOSS)!.manager).toBeUndefined();

    const [created] = await apply({
      actions: [{ action: create(BOSS, 'boss@x.test'), stage: false, forgetWhenApplied: false }],
    });
    known = await store.knownUsers([R1], { appRoles: false });
    expect(known.get(R1)!.manager).toEqual({ entraId: BOSS, rowId: created!.userId });

    // The mirror names another manager: resolved for that one (no row), not the old one.
    await apply({ mirror: [mirror(R1, OTHER)] });
    expect((await store.knownUsers([R1], { appRoles: false })).get(R1)!.manager).toEqual({
      entraId: OTHER,
      rowId: null,
    });
  });

  it("applyBatch: a manager's row created or deleted makes its reports pending, a report of the same batch too", async () => {
    store = await open();
    await apply({ mirror: [mirror(R1, BOSS), mirror(R2, OTHER), mirror(BOSS), mirror(OTHER)] });
    // R1 planned (and settled) in the batch that creates its manager: pending again afterwards.
    const results = await apply({
      actions: [
        { action: create(R1, 'r1@x.test'), stage: false, forgetWhenApplied: false },
        { action: create(BOSS, 'boss@x.test'), stage: false, forgetWhenApplied: false },
      ],
    });
    expect(results.map((r) => r.outcome)).toEqual(['applied', 'applied']);
    expect(await pending()).toEqual([R1]);

    // The manager's row deleted: its report is pending; a user managed by someone else is not.
    const r1 = (await row(R1))!;
    const settled: PlannedAction = {
      kind: 'skip',
      entraId: R1,
      row: r1,
      quiet: true,
      code: 'unchanged',
      reason: 'unchanged',
    };
    await apply({ actions: [{ action: settled, stage: false, forgetWhenApplied: false }] });
    expect(await pending()).toEqual([]);
    const boss = (await row(BOSS))!;
    await apply({
      actions: [
        {
          action: { kind: 'delete', entraId: BOSS, row: boss, code: 'hard-deleted', reason: 'gone' },
          stage: false,
          forgetWhenApplied: true,
        },
      ],
    });
    expect(await pending()).toEqual([R1]);
  });

  it('a staged (held) delete of the manager leaves its reports alone', async () => {
    store = await open();
    await apply({ mirror: [mirror(R1, BOSS), mirror(BOSS)] });
    await apply({
      actions: [{ action: create(BOSS, 'boss@x.test'), stage: false, forgetWhenApplied: false }],
    });
    await apply({ actions: [{ action: create(R1, 'r1@x.test'), stage: false, forgetWhenApplied: false }] });
    expect(await pending()).toEqual([]);
    const boss = (await row(BOSS))!;
    await apply({
      actions: [
        {
          action: { kind: 'delete', entraId: BOSS, row: boss, code: 'hard-deleted', reason: 'gone' },
          stage: true,
          forgetWhenApplied: true,
        },
      ],
    });
    expect(await pending()).toEqual([]);
  });

  async function row(entraId: string): Promise<StoreUser | null> {
    return (await store.knownUsers([entraId], { appRoles: false })).get(entraId)!.linked;
  }
});
