import { planUser } from '../plan/plan.js';
import type { PlanSettings, PlannedAction, StoreLookup, UserFacts } from '../plan/types.js';
import { applyAction } from './apply.js';
import type { CycleContext } from './context.js';

export function planSettings(ctx: CycleContext): PlanSettings {
  return {
    mappings: ctx.mappings,
    actions: ctx.settings.targetActions,
    evaluation: {
      now: ctx.now,
      defaultDomain: ctx.defaultDomain,
      isUniqueInTarget: (target, value) => isUnique(ctx, target, value),
    },
  };
}

function isUnique(ctx: CycleContext, target: string, value: string): boolean {
  if (target === 'userName') return ctx.store.users.findByUserName(value) === null;
  return ctx.store.users.findUnlinkedBy(target, value).length === 0;
}

export function storeLookup(ctx: CycleContext): StoreLookup {
  return {
    unlinkedBy: (target, value) => ctx.store.users.findUnlinkedBy(target, value),
    byUserName: (userName) => ctx.store.users.findByUserName(userName),
  };
}

export function gatherFacts(ctx: CycleContext, entraId: string, hardDeleted: boolean): UserFacts {
  const { mirror, users } = ctx.store;
  return {
    entraId,
    source: mirror.getUser(entraId),
    hardDeleted,
    inScope: ctx.scope === 'all' ? true : mirror.isInScope(entraId).inScope,
    linked: users.findByExternalId(entraId),
  };
}

/**
 * Plans and applies the given users, inside the caller's transaction. A user whose change failed
 * stays pending, so the next cycle tries again; the others leave the pending list.
 */
export function evaluateUsers(
  ctx: CycleContext,
  entraIds: Iterable<string>,
  hardDeleted: ReadonlySet<string>,
) {
  const settings = planSettings(ctx);
  const lookup = storeLookup(ctx);
  const planned: PlannedAction[] = [];
  for (const id of entraIds)
    planned.push(planUser(gatherFacts(ctx, id, hardDeleted.has(id)), settings, lookup));
  logSummary(ctx, planned);
  for (const action of planned) {
    const applied = applyAction(ctx, action);
    if (hardDeleted.has(action.entraId)) ctx.store.mirror.forgetUser(action.entraId);
    if (applied.kind === 'error') ctx.store.mirror.failPending(action.entraId, ctx.cycleId);
    else ctx.store.mirror.clearPending(action.entraId);
  }
}

/** ssosync's "change summary": what a batch is about to do, before it does it. */
function logSummary(ctx: CycleContext, planned: PlannedAction[]) {
  const summary: Record<string, number> = {};
  for (const a of planned) if (!(a.kind === 'skip' && a.quiet)) summary[a.kind] = (summary[a.kind] ?? 0) + 1;
  if (Object.keys(summary).length > 0) {
    ctx.log.info({ cycleId: ctx.cycleId, planned: summary, dryRun: ctx.dryRun }, 'change summary');
  }
}

/** Plans every pending user, a batch per transaction. */
export function drainPending(ctx: CycleContext): void {
  const batch = ctx.settings.sync.batchSize;
  let after = '';
  for (;;) {
    const ids = ctx.store.mirror.pendingAfter(after, batch, ctx.cycleId);
    if (ids.length === 0) return;
    after = ids[ids.length - 1]!;
    ctx.store.transaction(() => evaluateUsers(ctx, ids, new Set()));
  }
}
