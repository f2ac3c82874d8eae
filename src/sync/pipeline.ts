import type { AuditDraft } from '../plan/audit-entry.js';
import { userNameOf } from '../plan/audit-entry.js';
import { BatchLookup } from '../plan/batch-lookup.js';
import { planUser } from '../plan/plan.js';
import type { PlanSettings, PlannedAction, StoreLookup, UserFacts } from '../plan/types.js';
import {
  rowsCameOrWent,
  type AppliedAction,
  type KnownUser,
  type LookupKey,
  type MirrorWrite,
} from '../store/index.js';
import type { CycleContext } from './context.js';

/**
 * The one per-user pipeline, used by the cycle, the deletion settlement and provision on demand:
 * facts (one store call per batch) → plan (pure) → apply (one store call per batch) → report.
 */

export interface Planned {
  facts: UserFacts;
  action: PlannedAction;
}

/** How many times a batch is planned again for matching answers the store had not fetched. */
const LOOKUP_ROUNDS = 3;

export function factsOf(ctx: CycleContext, known: KnownUser): UserFacts {
  const { source } = known;
  return {
    entraId: known.entraId,
    source,
    hardDeleted: source?.hardDeleted ?? false,
    inScope: ctx.scope === 'all' ? true : known.scope !== null,
    scopeVia: ctx.scope === 'all' ? 'all' : known.scope,
    ...(known.leftGroup ? { leftGroup: known.leftGroup } : {}),
    linked: known.linked,
    ...(known.appRoles ? { appRoles: known.appRoles } : {}),
    ...(known.manager ? { manager: known.manager } : {}),
  };
}

/** The facts of these users as the store holds them, in the order given. */
export async function storedFacts(ctx: CycleContext, ids: readonly string[]): Promise<UserFacts[]> {
  const known = await ctx.store.knownUsers(ids, { appRoles: ctx.mappings.usesAppRoleAssignments });
  return ids.map((id) => factsOf(ctx, known.get(id)!));
}

/**
 * Plans a batch, in order: each plan sees the ones before it (BatchLookup). The matching look-ups
 * come from the store in one call; a store that fetches them ahead reports the keys a plan asked
 * for that it had not, and the batch is planned again with them.
 */
export async function planUsers(ctx: CycleContext, batch: readonly UserFacts[]): Promise<Planned[]> {
  let keys: LookupKey[] = [];
  for (let round = 1; ; round++) {
    const answers = await ctx.store.linkCandidates(keys);
    const settings = planSettings(ctx, answers);
    const lookup = new BatchLookup(answers);
    const planned = batch.map((facts) => {
      const action = planUser(facts, settings, lookup);
      lookup.record(action);
      return { facts, action };
    });
    if (answers.missing.length === 0) return planned;
    if (round === LOOKUP_ROUNDS) throw new Error('the store did not answer the matching look-ups of a batch');
    keys = [...keys, ...answers.missing];
  }
}

export function planSettings(ctx: CycleContext, lookup: StoreLookup): PlanSettings {
  return {
    mappings: ctx.mappings,
    actions: ctx.settings.targetActions,
    evaluation: {
      now: ctx.now,
      defaultDomain: ctx.defaultDomain,
      isUniqueInTarget: (target, value) =>
        target === 'userName'
          ? lookup.byUserName(value) === null
          : lookup.unlinkedBy(target, value).length === 0,
    },
    linkOnlyWhere: ctx.settings.matching.linkOnlyWhere,
  };
}

export interface ApplyOptions {
  /** Stage disables and deletes for the deletion threshold (the cycle), or apply them (settlement, provision). */
  stage: boolean;
  mirror?: readonly MirrorWrite[];
  audit?: readonly AuditDraft[];
  after?: readonly MirrorWrite[];
}

/** Applies a planned batch in one store call, then counts, logs and reports each change. */
export async function applyPlanned(
  ctx: CycleContext,
  planned: readonly Planned[],
  options: ApplyOptions,
): Promise<AppliedAction[]> {
  logSummary(ctx, planned);
  const results = await ctx.store.applyBatch({
    cycleId: ctx.cycleId,
    retry: ctx.settings.safety.retry,
    mirror: options.mirror,
    actions: planned.map(({ facts, action }) => ({
      action,
      stage: options.stage,
      forgetWhenApplied: facts.hardDeleted,
    })),
    audit: options.audit,
    after: options.after,
  });
  for (const r of results) report(ctx, r, options.stage);
  return results;
}

/** Plans and applies the given users from the store's facts (staging disables and deletes). */
export async function evaluateUsers(ctx: CycleContext, ids: readonly string[]): Promise<AppliedAction[]> {
  return applyPlanned(ctx, await planUsers(ctx, await storedFacts(ctx, ids)), { stage: true });
}

/**
 * Plans every pending user that is due, a batch per transaction, in id order. A pass can make users
 * pending again (a manager's row created after its report was planned): they are planned in another
 * pass, a few at most, since only a row created, linked or deleted does that.
 */
export async function drainPending(ctx: CycleContext): Promise<void> {
  const batch = ctx.settings.sync.batchSize;
  for (let pass = 0; pass < DRAIN_PASSES; pass++) {
    let after = '';
    let rowsChanged = false;
    for (;;) {
      const ids = await ctx.store.pending.dueAfter(after, batch, ctx.cycleId);
      if (ids.length === 0) break;
      after = ids[ids.length - 1]!;
      const results = await ctx.store.write(() => evaluateUsers(ctx, ids), 'pending users');
      ctx.progress?.step(ids.length);
      rowsChanged ||= rowsCameOrWent(results).length > 0;
    }
    if (!ctx.mappings.usesManager || !rowsChanged) return;
  }
}

/** A chain of managers created in one batch needs one pass per link; more is left to the next cycle. */
const DRAIN_PASSES = 4;

/** Counts and log line for one change; `listed` passes it to the cycle's listener (dry run, provision). */
function report(ctx: CycleContext, { action, outcome }: AppliedAction, listed: boolean): void {
  if (listed) ctx.onAction?.(action);
  // Staged changes are counted when they are held or applied; quiet skips are not changes.
  if (outcome === 'staged' || (action.kind === 'skip' && action.quiet)) return;
  ctx.counts[action.kind]++;
  const modified = 'modified' in action ? action.modified : [];
  const line = {
    cycleId: ctx.cycleId,
    action: action.kind,
    userName: userNameOf(action),
    entraId: action.entraId,
    ...(modified.length ? { modified: modified.map((m) => m.target) } : {}),
    reasonCode: action.code,
    ...(action.kind === 'skip' || action.kind === 'error' ? { reason: action.reason } : {}),
  };
  if (action.kind === 'error') ctx.log.warn(line, 'change failed');
  else ctx.log.info(line, action.kind === 'skip' ? 'skipped' : 'change');
}

/**
 * ssosync's "change summary": the changes a batch is about to make, before it makes them. Skips are
 * not changes, and whether a first-sight skip is reported is the store's to say (once per user).
 */
function logSummary(ctx: CycleContext, planned: readonly Planned[]) {
  const summary: Record<string, number> = {};
  for (const { action: a } of planned) if (a.kind !== 'skip') summary[a.kind] = (summary[a.kind] ?? 0) + 1;
  if (Object.keys(summary).length > 0) {
    ctx.log.info({ cycleId: ctx.cycleId, planned: summary, dryRun: ctx.dryRun }, 'change summary');
  }
}
