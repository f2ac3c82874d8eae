import { assignmentPages, readAppRoles } from '../source/assignments.js';
import { groupsDeltaRound } from '../source/groups.js';
import type { BadElement, GroupChange } from '../source/types.js';
import { withDeltaRestarts } from './restart.js';
import { sourceError, type CycleContext } from './context.js';
import type { GroupWrite } from '../store/index.js';
import { groupProvisioning } from './group-settings.js';

/**
 * One groups/delta round into the membership mirror. Membership changes are facts and are applied
 * page by page (their users become pending); absence counts only after a complete full round.
 * Returns how many memberships or groups it removed (their users may have left scope).
 */
export async function syncGroups(
  ctx: CycleContext,
  generation: () => Promise<number>,
  options: GroupsRoundStart = {},
): Promise<number> {
  // A full round when asked (the group mappings changed: the saved link selects other properties).
  const link = options.full ? null : await ctx.store.state.get('groups_delta_link');
  return withDeltaRestarts(ctx, 'groups', link, async (from) =>
    groupsRound(ctx, from, from ? 0 : await generation()),
  );
}

export interface GroupsRoundStart {
  /** Start from no delta link: every group listed again. */
  full?: boolean;
}

async function groupsRound(ctx: CycleContext, link: string | null, generation: number): Promise<number> {
  const { store, log } = ctx;
  let pages = 0;
  let removals = 0;
  const properties = groupProvisioning(ctx)?.properties;
  for await (const page of groupsDeltaRound(ctx.api, link, { properties })) {
    pages++;
    await store.write(async () => {
      const writes: GroupWrite[] = [];
      for (const change of page.items) await groupChange(ctx, change, writes);
      await store.scope.applyGroupPage(writes, generation);
      removals += writes.filter((w) => w.op === 'remove' || w.op === 'removeGroup').length;
      if (page.deltaLink) {
        if (!link) {
          const dropped = await store.scope.dropUnseenMemberships(generation);
          removals += dropped;
          if (dropped)
            log.info({ cycleId: ctx.cycleId, dropped }, 'memberships no longer listed by Graph removed');
        }
        await store.state.set({
          groups_delta_link: page.deltaLink,
          groups_delta_saved_at: new Date().toISOString(),
        });
      }
    }, 'groups page');
  }
  log.debug({ cycleId: ctx.cycleId, pages, full: !link }, 'groups round complete');
  return removals;
}

async function groupChange(ctx: CycleContext, change: GroupChange, writes: GroupWrite[]): Promise<void> {
  if (change.kind === 'invalid') {
    ctx.log.warn({ cycleId: ctx.cycleId, groupId: change.id, problem: change.problem }, 'group item ignored');
    return;
  }
  if (change.kind === 'removed') {
    writes.push({ op: 'removeGroup', groupId: change.id });
    return;
  }
  if (change.attributes)
    writes.push({
      op: 'groupAttributes',
      groupId: change.id,
      displayName: change.displayName ?? null,
      attributes: change.attributes,
    });
  for (const m of change.members) {
    if (m.removed) writes.push({ op: 'remove', groupId: change.id, memberId: m.id, memberType: m.type });
    else writes.push({ op: 'add', membership: { groupId: change.id, memberId: m.id, memberType: m.type } });
  }
  for (const bad of change.bad) await reportBadElement(ctx, bad);
}

/**
 * A malformed element (a group member, an assignment) was skipped and the rest applied: logged and
 * audited as an error the first time it is seen, not again each cycle that lists it.
 */
async function reportBadElement(ctx: CycleContext, bad: BadElement): Promise<void> {
  if (!(await ctx.store.state.firstReport(bad.key))) {
    ctx.log.debug({ cycleId: ctx.cycleId, problem: bad.problem }, 'malformed element skipped again');
    return;
  }
  const entry = sourceError(ctx, bad.entraId, `malformed data from Graph: ${bad.problem}`, {
    problem: bad.problem,
    message: 'malformed element skipped',
  });
  await ctx.store.audit.append([entry]);
}

/**
 * The scope of a cycle: the groups round and the assignment listing, read at the same time (they
 * are independent until the listing is applied, and against Graph each costs its requests'
 * latency), then the listing applied once both are complete. When either read fails, the other is
 * still awaited, so nothing of this cycle writes after it has failed. The caller has made one
 * request already (the service principal), so both start with the same access token.
 * Returns whether any user may have left scope (an assignment, membership or group removed).
 */
export async function syncScope(
  ctx: CycleContext,
  servicePrincipalId: string,
  generation: () => Promise<number>,
  options: GroupsRoundStart = {},
): Promise<{ mayHaveLeft: boolean }> {
  const [groups, listing] = await Promise.allSettled([
    syncGroups(ctx, generation, options),
    listAssignments(ctx, servicePrincipalId),
  ]);
  if (groups.status === 'rejected') throw groups.reason;
  if (listing.status === 'rejected') throw listing.reason;
  const changes = await applyAssignments(ctx, listing.value);
  return { mayHaveLeft: groups.value > 0 || changes.removed > 0 || changes.groupsLeft > 0 };
}

interface Listing {
  total: number;
  bad: BadElement[];
  appRoles: Awaited<ReturnType<typeof readAppRoles>> | null;
}

/** Lists every assignment (no delta exists for them) into the cycle's listing; writes nothing. */
async function listAssignments(ctx: CycleContext, servicePrincipalId: string): Promise<Listing> {
  const { store } = ctx;
  await store.scope.beginListing();
  let total = 0;
  const bad: BadElement[] = [];
  for await (const page of assignmentPages(ctx.api, servicePrincipalId, (b) => bad.push(b))) {
    total += page.length;
    await store.scope.addToListing(page);
  }
  const appRoles = ctx.mappings.usesAppRoleAssignments
    ? await readAppRoles(ctx.api, servicePrincipalId)
    : null;
  return { total, bad, appRoles };
}

/** Swaps a complete listing in and recomputes the groups in scope. */
async function applyAssignments(ctx: CycleContext, { total, bad, appRoles }: Listing) {
  const { store, log } = ctx;
  return store.write(async () => {
    for (const b of bad) await reportBadElement(ctx, b);
    const changes = await store.scope.commitListing(
      appRoles?.map((r) => ({ appRoleId: r.id, value: r.value, displayName: r.displayName })) ?? null,
      ctx.settings.scope.expandNestedGroups,
    );
    log.info({ cycleId: ctx.cycleId, assignments: total, ...changes }, 'scope read');
    return changes;
  }, 'assignments');
}

/** The assignment listing alone, listed and applied (provisioning one user on demand). */
export async function syncAssignments(ctx: CycleContext, servicePrincipalId: string): Promise<void> {
  await applyAssignments(ctx, await listAssignments(ctx, servicePrincipalId));
}
