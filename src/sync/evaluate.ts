import { BatchLookup } from '../plan/batch-lookup.js';
import { planUser } from '../plan/plan.js';
import type { PlanSettings, PlannedAction, StoreLookup, UserFacts } from '../plan/types.js';
import { applyBatch, type Outcome } from './apply.js';
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
    linkOnlyWhere: ctx.settings.matching.linkOnlyWhere,
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

export function gatherFacts(ctx: CycleContext, entraId: string): UserFacts {
  const { mirror, users } = ctx.store;
  const source = mirror.getUser(entraId);
  return {
    entraId,
    source,
    hardDeleted: source?.hardDeleted ?? false,
    inScope: ctx.scope === 'all' ? true : mirror.isInScope(entraId).inScope,
    linked: users.findByExternalId(entraId),
    ...(ctx.mappings.usesAppRoleAssignments ? { appRoles: mirror.appRolesOf(entraId) } : {}),
  };
}

/**
 * After an action: a failed user stays pending with growing spacing (escrow); the others leave the
 * pending list; a hard-deleted user leaves the mirror once its delete was applied or skipped.
 */
export function settleUser(
  ctx: CycleContext,
  facts: UserFacts,
  action: PlannedAction,
  outcome: Outcome,
): void {
  const { mirror } = ctx.store;
  if (outcome === 'failed') {
    const reason = action.kind === 'error' ? action.reason : 'failed';
    mirror.failPending(action.entraId, ctx.cycleId, reason, ctx.settings.safety.retry);
    return;
  }
  mirror.clearPending(action.entraId);
  if (facts.hardDeleted && outcome === 'applied') mirror.forgetUser(action.entraId);
}

/** Plans and applies the given users, inside the caller's transaction. */
export function evaluateUsers(ctx: CycleContext, entraIds: Iterable<string>): void {
  const settings = planSettings(ctx);
  // The whole batch is planned before any of it is written: each plan sees the ones before it.
  const lookup = new BatchLookup(storeLookup(ctx));
  const planned: [UserFacts, PlannedAction][] = [];
  for (const id of entraIds) {
    const facts = gatherFacts(ctx, id);
    const action = planUser(facts, settings, lookup);
    lookup.record(action);
    planned.push([facts, action]);
  }
  logSummary(ctx, planned);
  const results = applyBatch(
    ctx,
    planned.map(([, action]) => action),
  );
  planned.forEach(([facts], i) => settleUser(ctx, facts, results[i]!.action, results[i]!.outcome));
}

/** ssosync's "change summary": what a batch is about to do, before it does it. */
function logSummary(ctx: CycleContext, planned: [UserFacts, PlannedAction][]) {
  const summary: Record<string, number> = {};
  for (const [, a] of planned)
    if (!(a.kind === 'skip' && a.quiet)) summary[a.kind] = (summary[a.kind] ?? 0) + 1;
  if (Object.keys(summary).length > 0) {
    ctx.log.info({ cycleId: ctx.cycleId, planned: summary, dryRun: ctx.dryRun }, 'change summary');
  }
}

/** Plans every pending user that is due, a batch per transaction. */
export async function drainPending(ctx: CycleContext): Promise<void> {
  const batch = ctx.settings.sync.batchSize;
  let after = '';
  for (;;) {
    const ids = ctx.store.mirror.pendingAfter(after, batch, ctx.cycleId);
    if (ids.length === 0) return;
    after = ids[ids.length - 1]!;
    await ctx.store.write(() => evaluateUsers(ctx, ids), 'pending users');
  }
}
