import { planUser } from '../plan/plan.js';
import { exceedsThreshold } from '../safety/deletions.js';
import type { StagedChange } from '../store/index.js';
import { applyAction } from './apply.js';
import type { CycleContext } from './context.js';
import { gatherFacts, planSettings, settleUser, storeLookup } from './evaluate.js';

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

async function forEachStaged(ctx: CycleContext, fn: (change: StagedChange) => void): Promise<void> {
  let after = '';
  for (;;) {
    const batch = ctx.store.staged.after(after, ctx.settings.sync.batchSize);
    if (batch.length === 0) return;
    after = batch[batch.length - 1]!.entraId;
    await ctx.store.write(() => batch.forEach(fn), 'staged changes');
  }
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
  const settings = planSettings(ctx);
  const lookup = storeLookup(ctx);
  const { staged } = ctx.store;
  let dropped = 0;
  await forEachStaged(ctx, (change) => {
    const facts = gatherFacts(ctx, change.entraId);
    const plan = planUser(facts, settings, lookup);
    if (plan.kind === 'disable' || plan.kind === 'delete') {
      if (plan.kind !== change.kind) staged.stage(change.entraId, change.cycleId, plan.kind, change.userName);
      return;
    }
    dropped++;
    staged.remove(change.entraId);
    const result = applyAction(ctx, plan, 'direct');
    settleUser(ctx, facts, result.action, result.outcome);
  });

  const counts = staged.counts();
  if (counts.total === 0) return { applied: 0, held: 0, dropped, reason: null };
  const approve = options.approve;
  const reason =
    counts.held > 0
      ? 'the job is held'
      : exceedsThreshold(
          counts.total,
          ctx.store.users.counts().linked,
          ctx.settings.safety.deletionThreshold,
        );
  if (!approve && reason) return { applied: 0, held: await hold(ctx, reason), dropped, reason };

  let applied = 0;
  await forEachStaged(ctx, (change) => {
    if (approve?.cycleId && change.cycleId !== approve.cycleId) return;
    const facts = gatherFacts(ctx, change.entraId);
    const plan = planUser(facts, settings, lookup);
    const result = applyAction(ctx, plan, 'direct');
    settleUser(ctx, facts, result.action, result.outcome);
    if (result.outcome === 'applied') {
      staged.remove(change.entraId);
      applied++;
    }
  });
  const left = staged.counts();
  if (approve && left.total > 0) await hold(ctx, 'not part of the approved cycle');
  return { applied, held: left.total, dropped, reason: null };
}

/** Marks every staged change held; newly held ones get a staged-disable / staged-delete audit row. */
async function hold(ctx: CycleContext, reason: string): Promise<number> {
  let newlyHeld = 0;
  await forEachStaged(ctx, (change) => {
    if (change.held) return;
    newlyHeld++;
    ctx.counts.staged++;
    ctx.store.audit.append({
      cycleId: ctx.cycleId,
      action: `staged-${change.kind}`,
      status: 'skipped',
      entraId: change.entraId,
      userId: null,
      userName: change.userName,
      modified: [],
      reason: `held: ${reason}; approve with \`entrasync approve-deletions\``,
    });
  });
  await ctx.store.write(() => ctx.store.staged.holdAll(), 'staged changes');
  const total = ctx.store.staged.counts().total;
  ctx.log.warn(
    { cycleId: ctx.cycleId, held: total, newlyHeld, reason },
    'disables and deletes held by the accidental-deletion threshold; run `entrasync approve-deletions` or `reject-deletions`',
  );
  return total;
}
