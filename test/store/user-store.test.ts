/**
 * The UserStore contract, operation by operation, against a temporary database. One suite for every
 * implementation: each factory opens a fresh, empty store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PlannedAction, StoreUser } from '../../src/plan/types.js';
import {
  UNUSABLE_DATA,
  type CycleKind,
  type GroupWrite,
  type UserStore,
  type WriteBatch,
} from '../../src/store/index.js';
import { RETRY_SPACING, createAction, storeFactories } from '../support/stores.js';

const factories = storeFactories('contract');

const A = '00000000-0000-0000-0000-00000000000a';
const B = '00000000-0000-0000-0000-00000000000b';
const C = '00000000-0000-0000-0000-00000000000c';
const G = '00000000-0000-0000-0000-0000000000a1';
const ROLE = '00000000-0000-0000-0000-0000000000f1';
const retry = RETRY_SPACING;

const create = (entraId: string, userName: string): PlannedAction =>
  createAction(entraId, userName, [{ target: 'userName', oldValue: null, newValue: userName }]);

describe.each(factories)('UserStore on $name', ({ open }) => {
  let store: UserStore;
  const opened: UserStore[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  const fresh = async () => {
    store = await open();
    opened.push(store);
    return store;
  };
  const apply = (batch: Omit<WriteBatch, 'cycleId' | 'retry'>) =>
    store.write(() => store.applyBatch({ cycleId: 'c1', retry, ...batch }), 'test');

  it('knownUsers: one entry per id, empty facts for a user never seen', async () => {
    await fresh();
    const known = await store.knownUsers([A, B, A], { appRoles: false });
    expect([...known.keys()].sort()).toEqual([A, B]);
    expect(known.get(A)).toEqual({ entraId: A, source: null, scope: null, linked: null });
  });

  it('applyBatch writes the mirror, the action, its audit row, and settles the user', async () => {
    await fresh();
    const [applied] = await apply({
      mirror: [{ op: 'upsert', entraId: A, attributes: { userPrincipalName: 'ada@x.test' }, generation: 3 }],
      actions: [{ action: create(A, 'ada@x.test'), stage: true, forgetWhenApplied: false }],
    });
    expect(applied).toMatchObject({ outcome: 'applied', userId: expect.any(String) });
    const known = (await store.knownUsers([A], { appRoles: false })).get(A)!;
    expect(known.source).toMatchObject({ attributes: { userPrincipalName: 'ada@x.test' }, generation: 3 });
    expect(known.linked).toMatchObject({ id: applied!.userId, externalId: A, userName: 'ada@x.test' });
    expect(await store.audit.query({ cycleId: 'c1' })).toEqual([
      expect.objectContaining({ action: 'create', status: 'success', entraId: A, userId: applied!.userId }),
    ]);
    expect(await store.pending.count()).toBe(0);
  });

  it('a row the store rejects fails that user alone, escrowed; the batch goes on', async () => {
    await fresh();
    await apply({ actions: [{ action: create(A, 'same@x.test'), stage: true, forgetWhenApplied: false }] });
    const results = await apply({
      actions: [
        { action: create(B, 'SAME@x.test'), stage: true, forgetWhenApplied: false },
        { action: create(C, 'other@x.test'), stage: true, forgetWhenApplied: false },
      ],
    });
    expect(results.map((r) => [r.action.kind, r.outcome])).toEqual([
      ['error', 'failed'],
      ['create', 'applied'],
    ]);
    expect(results[0]!.action).toMatchObject({
      reason: expect.stringMatching(/the store rejected the change/),
    });
    expect((await store.users.counts()).total).toBe(2);
    expect(await store.pending.failing()).toEqual([
      expect.objectContaining({ entraId: B, failures: 1, lastError: expect.stringMatching(/rejected/) }),
    ]);
  });

  it('disables and deletes are staged, not applied, when the batch stages them', async () => {
    await fresh();
    const [created] = await apply({
      actions: [{ action: create(A, 'ada@x.test'), stage: true, forgetWhenApplied: false }],
    });
    const row = (await store.users.get(created!.userId!)) as StoreUser;
    const disable: PlannedAction = {
      kind: 'disable',
      entraId: A,
      row,
      resource: { ...row.resource, active: false },
      modified: [{ target: 'active', oldValue: true, newValue: false }],
      code: 'unassigned',
      reason: 'no longer assigned to the application (directly or through a group)',
    };
    expect(
      (await apply({ actions: [{ action: disable, stage: true, forgetWhenApplied: false }] }))[0]!.outcome,
    ).toBe('staged');
    expect(await store.staged.list()).toEqual([expect.objectContaining({ entraId: A, kind: 'disable' })]);
    expect((await store.users.get(row.id))!.active).toBe(true);
    await apply({ actions: [{ action: disable, stage: false, forgetWhenApplied: false }] });
    expect((await store.users.get(row.id))!.active).toBe(false);
    expect(await store.staged.counts()).toMatchObject({ total: 0 });
  });

  it('linkCandidates answers the keys it was asked for (and reports any it could not)', async () => {
    await fresh();
    await apply({ actions: [{ action: create(A, 'ada@x.test'), stage: true, forgetWhenApplied: false }] });
    const lookup = await store.linkCandidates([{ target: 'userName', value: 'ADA@x.test' }]);
    expect(lookup.byUserName('ADA@x.test')).toMatchObject({ externalId: A, userName: 'ada@x.test' });
    expect(lookup.unlinkedBy('userName', 'ada@x.test')).toEqual([]);
    expect(lookup.missing).toEqual([]);
  });

  it('the unusable-data mark: kept by keepUnusable and fail, ended by usableAgain', async () => {
    await fresh();
    await apply({
      mirror: [{ op: 'upsert', entraId: A, attributes: { accountEnabled: true }, generation: 1 }],
    });
    await apply({
      mirror: [{ op: 'keepUnusable', entraId: A, generation: 2, disabled: true }],
      after: [{ op: 'fail', entraId: A, error: `${UNUSABLE_DATA}bad` }],
    });
    let known = (await store.knownUsers([A], { appRoles: false })).get(A)!;
    expect(known.source).toMatchObject({ attributes: { accountEnabled: false }, generation: 2 });
    expect(known.unusableSince).toBe('c1');
    expect(await store.pending.dueUnusable('c2')).toEqual([]); // not due before its retry time
    await apply({ mirror: [{ op: 'usableAgain', entraId: A }] });
    known = (await store.knownUsers([A], { appRoles: false })).get(A)!;
    expect(known.unusableSince).toBeUndefined();
  });

  it('soft and hard deletes mark the mirror; a hard-deleted user is forgotten once its delete applied', async () => {
    await fresh();
    await apply({
      mirror: [
        { op: 'upsert', entraId: A, attributes: {}, generation: 1 },
        { op: 'softDelete', entraId: A, generation: 2 },
        { op: 'hardDelete', entraId: B },
      ],
    });
    const known = await store.knownUsers([A, B], { appRoles: false });
    expect(known.get(A)!.source).toMatchObject({ softDeleted: true, generation: 2 });
    expect(known.get(B)!.source).toMatchObject({ hardDeleted: true, attributes: {} });
    const skip: PlannedAction = {
      kind: 'skip',
      entraId: B,
      row: null,
      code: 'hard-deleted',
      reason: 'gone',
      quiet: true,
    };
    await apply({ actions: [{ action: skip, stage: true, forgetWhenApplied: true }] });
    expect((await store.knownUsers([B], { appRoles: false })).get(B)!.source).toBeNull();
  });

  it('scope: assignments and group members put users in scope; a changed membership makes them pending', async () => {
    await fresh();
    await store.write(async () => {
      await store.scope.beginListing();
      await store.scope.addToListing([
        { principalId: A, principalType: 'User', appRoleId: ROLE },
        { principalId: G, principalType: 'Group', appRoleId: ROLE },
      ]);
      await store.scope.applyGroupPage(
        [{ op: 'add', membership: { groupId: G, memberId: B, memberType: 'user' } }],
        1,
      );
      const changes = await store.scope.commitListing(
        [{ appRoleId: ROLE, value: 'Admin', displayName: 'Admin' }],
        false,
      );
      expect(changes).toMatchObject({ added: 2, removed: 0, groupsEntered: 1 });
    }, 'test');
    const known = await store.knownUsers([A, B, C], { appRoles: true });
    expect(known.get(A)!.scope).toBe('assignment');
    expect(known.get(B)!.scope).toBe('group');
    expect(known.get(C)!.scope).toBeNull();
    expect(known.get(B)!.appRoles).toEqual([{ appRoleId: ROLE, value: 'Admin', displayName: 'Admin' }]);
    expect(await store.scope.isAssigned(G, 'Group')).toBe(true);
    expect(await store.scope.relevantUserIds()).toEqual([A, B]);
    expect(await store.scope.relevantUserCount(0)).toBe(1); // counted up to limit + 1
    expect(await store.scope.unmirroredInScope()).toEqual([A, B]);
    expect(await store.pending.dueAfter('', 10, 'c1')).toEqual([A, B]);

    await store.write(
      () => store.scope.applyGroupPage([{ op: 'remove', groupId: G, memberId: B, memberType: 'user' }], 2),
      'test',
    );
    expect((await store.knownUsers([B], { appRoles: false })).get(B)!.scope).toBeNull();
  });

  it('scope: the same listing again changes nothing; a changed one is applied, an abandoned one is not', async () => {
    await fresh();
    const listing = (items: { principalId: string; principalType: string }[], commit = true) =>
      store.write(async () => {
        await store.scope.beginListing();
        // Two pages, in a different order each time: the digest does not depend on order.
        for (const a of items) await store.scope.addToListing([{ ...a, appRoleId: ROLE }]);
        return commit ? store.scope.commitListing(null, false) : null;
      }, 'test');
    expect(
      await listing([
        { principalId: A, principalType: 'User' },
        { principalId: B, principalType: 'User' },
      ]),
    ).toMatchObject({ added: 2, removed: 0, unchanged: false });
    expect(
      await listing([
        { principalId: B, principalType: 'User' },
        { principalId: A, principalType: 'User' },
      ]),
    ).toMatchObject({ added: 0, removed: 0, unchanged: true });
    // Read but never committed (the cycle failed): nothing of it counts.
    await listing([{ principalId: C, principalType: 'User' }], false);
    expect(await store.scope.isAssigned(C, 'User')).toBe(false);
    expect(await listing([{ principalId: B, principalType: 'User' }])).toMatchObject({
      added: 0,
      removed: 1,
      unchanged: false,
    });
    expect(await store.scope.isAssigned(A, 'User')).toBe(false);
    expect(await store.scope.isAssigned(B, 'User')).toBe(true);
    expect(await store.scope.relevantUserIds()).toEqual([B]);
    // The removed user's scope changed: pending, to be planned (and disabled) by the cycle.
    expect(await store.pending.dueAfter('', 10, 'c2')).toContain(A);
  });

  it('state, cycles and the lease', async () => {
    await fresh();
    await store.write(() => store.state.set({ fingerprint: 'f', users_delta_link: 'l' }), 'test');
    expect(await store.state.get('fingerprint')).toBe('f');
    expect(await store.write(() => store.state.nextGeneration(), 'test')).toBe(1);
    await store.write(() => store.state.forgetDeltaState(), 'test');
    expect(await store.state.get('users_delta_link')).toBeNull();
    expect(await store.write(() => store.state.firstReport('bad element'), 'test')).toBe(true);
    expect(await store.write(() => store.state.firstReport('bad element'), 'test')).toBe(false);

    await store.write(() => store.cycles.start('c1', 'initial', false), 'test');
    await store.write(
      () => store.cycles.finish('c1', 'failed', { create: 1 }, 3, 'boom', 'transient'),
      'test',
    );
    expect(await store.cycles.get('c1')).toMatchObject({ status: 'failed', failureClass: 'transient' });
    expect(await store.cycles.lastSucceeded()).toBeNull();

    const lease = store.cycleLease('host pid 1 a', 60_000);
    expect(await lease.tryAcquire()).toBeNull();
    expect(await store.cycleLease('host pid 2 b', 60_000).tryAcquire()).toMatchObject({
      owner: 'host pid 1 a',
    });
    await lease.release();
    expect(await store.leaseHolder()).toBeNull();
  });

  it('provisioning logs: reason codes, once-skips, a user named by any id or former userName', async () => {
    await fresh();
    const [created] = await apply({
      actions: [{ action: create(A, 'ada@x.test'), stage: true, forgetWhenApplied: false }],
    });
    const row = (await store.users.get(created!.userId!))!;
    const rename: PlannedAction = {
      kind: 'update',
      entraId: A,
      row,
      resource: { ...row.resource, userName: 'ada.b@x.test' },
      modified: [{ target: 'userName', oldValue: 'ada@x.test', newValue: 'ada.b@x.test' }],
      code: 'attributes-changed',
      reason: 'changed in Entra: userName',
    };
    await apply({ actions: [{ action: rename, stage: true, forgetWhenApplied: false }] });
    const skipped: PlannedAction = {
      kind: 'skip',
      entraId: B,
      row: null,
      code: 'disabled-in-entra',
      reason: 'disabled in Entra and never created',
      quiet: false,
      once: true,
      userName: 'bo@x.test',
    };
    const once = await apply({ actions: [{ action: skipped, stage: true, forgetWhenApplied: false }] });
    const again = await apply({ actions: [{ action: skipped, stage: true, forgetWhenApplied: false }] });
    expect([once[0]!.action, again[0]!.action]).toMatchObject([{ quiet: false }, { quiet: true }]);
    expect((await store.audit.query({ user: B })).map((e) => [e.action, e.reasonCode, e.userName])).toEqual([
      ['skip', 'disabled-in-entra', 'bo@x.test'],
    ]);
    const history = ['create ada@x.test new-assignment', 'update ada.b@x.test attributes-changed'];
    for (const who of [A, row.id, 'ADA@x.test', 'ada.b@X.test']) {
      const entries = await store.audit.query({ user: who });
      expect(
        entries.map((e) => `${e.action} ${e.userName} ${e.reasonCode}`),
        who,
      ).toEqual(history);
    }
    expect(await store.audit.query({ user: 'nobody@x.test' })).toEqual([]);

    // A failing user is named; retry takes a former userName.
    const failed: PlannedAction = {
      kind: 'error',
      entraId: A,
      row,
      code: 'conflict',
      reason: 'boom',
      userName: 'ada.b@x.test',
    };
    await apply({ actions: [{ action: failed, stage: true, forgetWhenApplied: false }] });
    expect(await store.pending.failing()).toEqual([
      expect.objectContaining({ entraId: A, userName: 'ada.b@x.test', failures: 1 }),
    ]);
    expect(await store.write(() => store.pending.retryFailed('bo@x.test'), 'test')).toBe(0);
    expect(await store.write(() => store.pending.retryFailed('ADA@x.test'), 'test')).toBe(1);
  });

  it('scope: the group a user left while it gave scope is kept until it is back in scope', async () => {
    await fresh();
    const page = (writes: GroupWrite[], generation: number) =>
      store.write(() => store.scope.applyGroupPage(writes, generation), 'test');
    await store.write(async () => {
      await store.scope.beginListing();
      await store.scope.addToListing([
        { principalId: G, principalType: 'Group', appRoleId: ROLE },
        { principalId: C, principalType: 'User', appRoleId: ROLE },
      ]);
      await store.scope.commitListing(null, false);
    }, 'test');
    await apply({
      mirror: [A, B, C].map((id) => ({ op: 'upsert' as const, entraId: id, attributes: {}, generation: 1 })),
    });
    await page(
      [A, B, C].map((id) => ({
        op: 'add' as const,
        membership: { groupId: G, memberId: id, memberType: 'user' },
      })),
      1,
    );
    await page([{ op: 'remove', groupId: G, memberId: A, memberType: 'user' }], 2);
    // C is still assigned directly: leaving the group took nothing.
    await page([{ op: 'remove', groupId: G, memberId: C, memberType: 'user' }], 2);
    await page([{ op: 'removeGroup', groupId: G }], 2);
    const known = await store.knownUsers([A, B, C], { appRoles: false });
    expect([A, B, C].map((id) => known.get(id)!.leftGroup)).toEqual([G, G, undefined]);
    const back: PlannedAction = {
      kind: 'skip',
      entraId: A,
      row: null,
      code: 'unchanged',
      reason: 'unchanged',
      quiet: true,
      release: false,
    };
    await apply({ actions: [{ action: back, stage: true, forgetWhenApplied: false }] });
    expect((await store.knownUsers([A], { appRoles: false })).get(A)!.leftGroup).toBeUndefined();
  });

  it('cycles: on-demand runs are listed apart and are never the last successful cycle', async () => {
    await fresh();
    const run = async (id: string, kind: CycleKind) => {
      await store.write(() => store.cycles.start(id, kind, false), 'test');
      await store.write(() => store.cycles.finish(id, 'succeeded', {}, 0), 'test');
      // Cycles are ordered by start time (milliseconds): two in the same millisecond have no order.
      await new Promise((resolve) => setTimeout(resolve, 3));
    };
    await run('job', 'incremental');
    await run('od1', 'on-demand');
    await run('od2', 'on-demand');
    expect((await store.cycles.recent(1, 'job')).map((c) => c.id)).toEqual(['job']);
    expect((await store.cycles.recent(5, 'on-demand')).map((c) => c.id)).toEqual(['od2', 'od1']);
    expect(await store.cycles.recent(5)).toHaveLength(3);
    expect((await store.cycles.lastSucceeded())?.id).toBe('job');
  });

  it('progress: outside the open transaction (a rollback keeps it), replaced whole, cleared by its own cycle only', async () => {
    await fresh();
    const owner = 'host pid 1 progress';
    const lease = store.cycleLease(owner, 60_000);
    expect(await lease.tryAcquire()).toBeNull();
    expect(await store.progress.read()).toBeNull();
    const span = await store.writeSpan('users batch');
    await store.progress.publish({ cycleId: 'c1', owner, progress: { phase: 'users', done: 10 } });
    await span.rollback();
    expect(await store.progress.read()).toEqual({
      cycleId: 'c1',
      owner,
      progress: { phase: 'users', done: 10 },
    });
    await store.progress.publish({ cycleId: 'c1', owner, progress: { phase: 'users', done: 20 } });
    expect((await store.progress.read())?.progress).toEqual({ phase: 'users', done: 20 });
    await store.progress.clear('another cycle');
    expect(await store.progress.read()).not.toBeNull();
    await store.progress.clear('c1');
    expect(await store.progress.read()).toBeNull();
    if (store.kind === 'postgres') {
      // A process that does not hold the lease (cut off, replaced) writes nothing.
      await store.progress.publish({ cycleId: 'c2', owner: 'host pid 2 stale', progress: {} });
      expect(await store.progress.read()).toBeNull();
    }
    await lease.release();
  });

  it('a dry run leaves nothing behind', async () => {
    await fresh();
    await store.dryRun(() =>
      apply({ actions: [{ action: create(A, 'ada@x.test'), stage: true, forgetWhenApplied: false }] }),
    );
    expect((await store.users.counts()).total).toBe(0);
    expect(await store.audit.query({})).toEqual([]);
  });
});
