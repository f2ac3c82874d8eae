import { exceedsThreshold } from '../safety/deletions.js';
import type { StagedChange } from '../store/index.js';
import type { CycleContext } from './context.js';
import { applyPlanned, planUsers, storedFacts, type Planned } from './pipeline.js';
import { groupProvisioning } from './group-settings.js';
import { applyGroups, knownGroups, planGroups } from './groups.js';

const isGroup = (c: StagedChange) => c.kind === 'delete-group';

export interface SettleOptions {
  /** approve-deletions: apply held changes (of this cycle only, when given) that still hold. */
  approve?: { cycleId?: string };
}

export interface SettleResult {
  applied: number;
  held: number;
  dropped: number;
  reason: string | null;
}

/** Every staged change, a batch per write transaction. */
async function forEachStaged(ctx: CycleContext, fn: (batch: StagedChange[]) => Promise<void>): Promise<void> {
  let after = '';
  for (;;) {
    const batch = await ctx.store.staged.after(after, ctx.settings.sync.batchSize);
    if (batch.length === 0) return;
    after = batch[batch.length - 1]!.entraId;
    await ctx.store.write(() => fn(batch), 'staged changes');
    ctx.progress?.step(batch.length);
  }
}

/** The staged changes planned again from the current facts, in the same order. */
async function replan(ctx: CycleContext, batch: readonly StagedChange[]): Promise<Planned[]> {
  return planUsers(
    ctx,
    await storedFacts(
      ctx,
      batch.map((c) => c.entraId),
    ),
  );
}

/**
 * The end of a cycle for its disables and deletes (Entra's accidental-deletion prevention). Every
 * staged change is planned again from the current facts: one no longer planned is dropped (its cause
 * was fixed). Then, unless the job is held already, they are applied when within the threshold and
 * held otherwise. Held changes wait for approve-deletions, which applies those that still hold.
 */
export async function settleStagedChanges(
  ctx: CycleContext,
  options: SettleOptions = {},
): Promise<SettleResult> {
  const { staged } = ctx.store;
  let dropped = 0;
  await forEachStaged(ctx, async (all) => {
    dropped += await replanGroups(ctx, all.filter(isGroup));
    const batch = all.filter((c) => !isGroup(c));
    const planned = await replan(ctx, batch);
    const restage: StagedChange[] = [];
    const noLonger: Planned[] = [];
    planned.forEach((p, i) => {
      const change = batch[i]!;
      const { kind } = p.action;
      if (kind === 'disable' || kind === 'delete') {
        if (kind !== change.kind) restage.push({ ...change, kind });
      } else noLonger.push(p);
    });
    dropped += noLonger.length;
    await staged.restage(restage);
    await staged.remove(noLonger.map((p) => p.action.entraId));
    await applyPlanned(ctx, noLonger, { stage: false });
  });

  const counts = await staged.counts();
  if (counts.total === 0) return { applied: 0, held: 0, dropped, reason: null };
  const approve = options.approve;
  const reason =
    counts.held > 0
      ? 'the job is held'
      : exceedsThreshold(
          counts.total,
          // Group deletes count with the users' changes, against users and groups linked to Entra.
          (await ctx.store.users.counts()).linked + (await ctx.store.groups.counts()).linked,
          ctx.settings.safety.deletionThreshold,
        );
  if (!approve && reason) return { applied: 0, held: await hold(ctx, reason), dropped, reason };

  let applied = 0;
  await forEachStaged(ctx, async (batch) => {
    const approved = batch.filter((c) => !approve?.cycleId || c.cycleId === approve.cycleId);
    applied += await applyGroupDeletes(ctx, approved.filter(isGroup));
    const users = approved.filter((c) => !isGroup(c));
    const results = await applyPlanned(ctx, await replan(ctx, users), { stage: false });
    applied += results.filter((r) => r.outcome === 'applied').length;
  });
  const left = await staged.counts();
  if (approve && left.total > 0) await hold(ctx, 'not part of the approved cycle');
  return { applied, held: left.total, dropped, reason: null };
}

/** Marks every staged change held; newly held ones get a staged-disable / staged-delete audit row. */
async function hold(ctx: CycleContext, reason: string): Promise<number> {
  let newlyHeld = 0;
  await forEachStaged(ctx, async (batch) => {
    const held = batch.filter((change) => !change.held);
    newlyHeld += held.length;
    ctx.counts.staged += held.length;
    await ctx.store.audit.append(
      held.map((change) => ({
        cycleId: ctx.cycleId,
        action: `staged-${change.kind}`,
        status: 'skipped' as const,
        entraId: change.entraId,
        userId: null,
        userName: isGroup(change) ? null : change.userName,
        ...(isGroup(change) ? { objectType: 'group' as const, groupName: change.userName } : {}),
        modified: [],
        reasonCode: 'held',
        reason: `held: ${reason}; approve with \`entrasync approve-deletions\``,
      })),
    );
  });
  await ctx.store.write(() => ctx.store.staged.holdAll(), 'staged changes');
  const total = (await ctx.store.staged.counts()).total;
  ctx.log.warn(
    { cycleId: ctx.cycleId, held: total, newlyHeld, reason },
    'disables and deletes held by the accidental-deletion threshold; run `entrasync approve-deletions` or `reject-deletions`',
  );
  return total;
}

/**
 * Staged group deletes planned again: one no longer planned as a delete (back in scope, or group
 * provisioning turned off) is unstaged and its new plan applied. Returns how many were dropped.
 */
async function replanGroups(ctx: CycleContext, changes: readonly StagedChange[]): Promise<number> {
  if (changes.length === 0) return 0;
  const gp = groupProvisioning(ctx);
  const ids = changes.map((c) => c.entraId);
  if (!gp) {
    await ctx.store.staged.remove(ids);
    return ids.length;
  }
  const planned = await planGroups(ctx, gp, await knownGroups(ctx, ids));
  const noLonger = planned.filter((p) => p.action.kind !== 'delete');
  await ctx.store.staged.remove(noLonger.map((p) => p.action.entraId));
  await applyGroups(ctx, noLonger, { stage: false });
  return noLonger.length;
}

/** Applies the staged group deletes that still hold; returns how many were applied. */
async function applyGroupDeletes(ctx: CycleContext, changes: readonly StagedChange[]): Promise<number> {
  const gp = groupProvisioning(ctx);
  if (changes.length === 0 || !gp) return 0;
  const planned = await planGroups(
    ctx,
    gp,
    await knownGroups(
      ctx,
      changes.map((c) => c.entraId),
    ),
  );
  const errorsBefore = ctx.groupCounts.error;
  await applyGroups(ctx, planned, { stage: false });
  await ctx.store.staged.remove(planned.map((p) => p.action.entraId));
  const deletes = planned.filter((p) => p.action.kind === 'delete').length;
  return Math.max(0, deletes - (ctx.groupCounts.error - errorsBefore));
}
