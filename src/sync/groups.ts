import {
  groupAuditOf,
  planGroup,
  type GroupAction,
  type GroupPlanSettings,
  type LocalGroup,
} from '../plan/groups.js';
import type { GroupActionWrite, KnownGroup, StoreGroup } from '../store/index.js';
import type { CycleContext } from './context.js';
import { groupProvisioning, type GroupProvisioning } from './group-settings.js';

/**
 * Group provisioning in a cycle, after the users (memberships need their rows): every group whose
 * facts changed is planned and applied, a batch per transaction; then the memberships of the groups
 * marked for it are recomputed, a batch of groups per transaction, until none is left. Group deletes
 * are staged with the users' disables and deletes (the deletion threshold counts them together).
 */
export async function provisionGroups(ctx: CycleContext): Promise<void> {
  const gp = groupProvisioning(ctx);
  if (!gp) return;
  const { store } = ctx;
  const limit = ctx.settings.sync.batchSize;
  let after = '';
  for (;;) {
    // Read inside the transaction: the application may change a local group while the write waits.
    const planned = await store.write(async () => {
      const due = await store.groups.duePlan(after, limit);
      if (due.length > 0) await planAndApplyGroups(ctx, gp, due, { stage: true });
      return due;
    }, 'groups');
    if (planned.length === 0) break;
    after = planned[planned.length - 1]!.entraId;
    ctx.progress?.step(planned.length);
  }
  if (gp.plan.mappings.syncsMembers) await settleMemberships(ctx);
}

/** Recomputes the memberships of every group marked for it, `batchSize` groups per transaction. */
export async function settleMemberships(ctx: CycleContext): Promise<{ added: number; removed: number }> {
  const { store } = ctx;
  const total = { added: 0, removed: 0 };
  for (;;) {
    const done = await store.write(
      () =>
        store.groups.settleMemberships(ctx.cycleId, {
          expandNested: ctx.settings.scope.expandNestedGroups,
          limit: ctx.settings.sync.batchSize,
        }),
      'group members',
    );
    if (done.groups === 0) break;
    total.added += done.added;
    total.removed += done.removed;
    ctx.groupCounts.addMember += done.added;
    ctx.groupCounts.removeMember += done.removed;
    ctx.progress?.step(done.groups);
  }
  if (total.added || total.removed)
    ctx.log.info({ cycleId: ctx.cycleId, ...total }, 'group memberships updated');
  return total;
}

export function groupPlanSettings(ctx: CycleContext, gp: GroupProvisioning): GroupPlanSettings {
  return { ...gp.plan, scope: ctx.scope, now: ctx.now };
}

export interface PlannedGroup {
  facts: KnownGroup;
  action: GroupAction;
}

/**
 * Plans a batch of groups. Linking asks the store for the unlinked local groups of the display
 * names the plans want (one call), then plans again with them; a local group linked earlier in the
 * batch is no candidate for the next.
 */
export async function planGroups(
  ctx: CycleContext,
  gp: GroupProvisioning,
  batch: readonly KnownGroup[],
): Promise<PlannedGroup[]> {
  const settings = groupPlanSettings(ctx, gp);
  const wanted = new Set<string>();
  for (const facts of batch)
    planGroup(facts, settings, (name) => {
      wanted.add(name);
      return [];
    });
  const found =
    wanted.size > 0
      ? await ctx.store.groups.unlinkedByDisplayName([...wanted])
      : new Map<string, StoreGroup[]>();
  const byName = new Map<string, LocalGroup[]>();
  for (const [name, rows] of found)
    byName.set(name.toLowerCase(), [...(byName.get(name.toLowerCase()) ?? []), ...rows]);
  const claimed = new Set<string>();
  return batch.map((facts) => {
    const action = planGroup(facts, settings, (name) =>
      (byName.get(name.toLowerCase()) ?? []).filter((g) => !claimed.has(g.id)),
    );
    if (action.kind === 'link') claimed.add(action.group.id);
    return { facts, action };
  });
}

/**
 * Plans and applies a batch in one store call. With `stage`, a delete is staged for the deletion
 * threshold instead (settled at the end of the cycle); its group stays planned until then.
 */
export async function planAndApplyGroups(
  ctx: CycleContext,
  gp: GroupProvisioning,
  batch: readonly KnownGroup[],
  options: { stage: boolean },
): Promise<PlannedGroup[]> {
  const planned = await planGroups(ctx, gp, batch);
  await applyGroups(ctx, planned, options);
  return planned;
}

export async function applyGroups(
  ctx: CycleContext,
  planned: readonly PlannedGroup[],
  options: { stage: boolean },
): Promise<void> {
  const writes: GroupActionWrite[] = [];
  const staged: PlannedGroup[] = [];
  for (const p of planned) {
    ctx.onGroupAction?.(p.action);
    if (p.action.kind === 'delete' && options.stage) staged.push(p);
    else writes.push(toWrite(ctx.cycleId, p.action));
  }
  if (staged.length > 0)
    await ctx.store.staged.restage(
      staged.map(({ action }) => ({
        entraId: action.entraId,
        cycleId: ctx.cycleId,
        kind: 'delete-group' as const,
        userName: action.kind === 'delete' ? action.group.displayName : null,
      })),
    );
  if (writes.length === 0) return;
  const results = await ctx.store.groups.apply(ctx.cycleId, writes, ctx.settings.safety.retry);
  const outcomes = new Map(results.map((r) => [r.entraId, r]));
  for (const p of planned) {
    const result = outcomes.get(p.action.entraId);
    if (result) report(ctx, p.action, result.outcome, result.error);
  }
}

function toWrite(cycleId: string, action: GroupAction): GroupActionWrite {
  const audit = groupAuditOf(cycleId, action, null);
  switch (action.kind) {
    case 'create':
      return {
        kind: 'create',
        entraId: action.entraId,
        resource: action.resource,
        displayName: action.displayName,
        inScope: true,
        audit: audit!,
      };
    case 'update':
    case 'link':
      return {
        kind: action.kind,
        entraId: action.entraId,
        groupId: action.group.id,
        resource: action.resource,
        displayName: action.displayName,
        inScope: true,
        audit: audit!,
      };
    case 'delete':
      return { kind: 'delete', entraId: action.entraId, groupId: action.group.id, audit: audit! };
    case 'keep':
      return { kind: 'keep', entraId: action.entraId, inScope: action.inScope, audit };
    case 'error':
      return { kind: 'error', entraId: action.entraId, audit: audit! };
  }
}

function report(ctx: CycleContext, action: GroupAction, outcome: 'applied' | 'failed', error?: string): void {
  if (action.kind === 'keep' && action.quiet) return;
  const kind = outcome === 'failed' ? 'error' : action.kind === 'keep' ? 'skip' : action.kind;
  ctx.groupCounts[kind]++;
  const line = {
    cycleId: ctx.cycleId,
    object: 'group',
    action: kind,
    entraId: action.entraId,
    displayName:
      'displayName' in action ? action.displayName : 'group' in action ? action.group?.displayName : null,
    ...('modified' in action && action.modified.length
      ? { modified: action.modified.map((m) => m.target) }
      : {}),
    reasonCode: action.code,
    ...(kind === 'skip' || kind === 'error' ? { reason: error ?? action.reason } : {}),
  };
  if (kind === 'error') ctx.log.warn(line, 'group change failed');
  else ctx.log.info(line, kind === 'skip' ? 'group skipped' : 'group change');
}

/** The facts of these groups, in the order given (staged replans, provision on demand). */
export async function knownGroups(ctx: CycleContext, ids: readonly string[]): Promise<KnownGroup[]> {
  const known = await ctx.store.groups.known(ids);
  return ids.map((id) => known.get(id) ?? { entraId: id, source: null, assigned: false, linked: null });
}
