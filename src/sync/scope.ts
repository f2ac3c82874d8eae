import { assignmentPages, readAppRoles } from '../source/assignments.js';
import { groupsDeltaRound } from '../source/groups.js';
import type { GroupChange } from '../source/types.js';
import { withDeltaRestarts } from './restart.js';
import type { CycleContext } from './context.js';

/**
 * One groups/delta round into the membership mirror. Membership changes are facts and are applied
 * page by page (their users become pending); absence counts only after a complete full round.
 */
export async function syncGroups(ctx: CycleContext, generation: () => number): Promise<void> {
  const link = ctx.store.state.get('groups_delta_link');
  await withDeltaRestarts(ctx, 'groups', link, (from) => groupsRound(ctx, from, from ? 0 : generation()));
}

async function groupsRound(ctx: CycleContext, link: string | null, generation: number): Promise<void> {
  const { store, log } = ctx;
  let pages = 0;
  for await (const page of groupsDeltaRound(ctx.api, link)) {
    pages++;
    store.transaction(() => {
      for (const change of page.items) applyGroupChange(ctx, change, generation);
      if (page.deltaLink) {
        if (!link) {
          const dropped = store.mirror.dropUnseenMemberships(generation);
          if (dropped)
            log.info({ cycleId: ctx.cycleId, dropped }, 'memberships no longer listed by Graph removed');
        }
        store.state.set('groups_delta_link', page.deltaLink);
        store.state.set('groups_delta_saved_at', new Date().toISOString());
      }
    });
  }
  log.debug({ cycleId: ctx.cycleId, pages, full: !link }, 'groups round complete');
}

function applyGroupChange(ctx: CycleContext, change: GroupChange, generation: number): void {
  const { mirror } = ctx.store;
  if (change.kind === 'invalid') {
    ctx.log.warn({ cycleId: ctx.cycleId, groupId: change.id, problem: change.problem }, 'group item ignored');
    return;
  }
  if (change.kind === 'removed') {
    mirror.removeGroup(change.id);
    return;
  }
  for (const m of change.members) {
    if (m.removed) mirror.removeMember(change.id, m.id);
    else mirror.addMember(change.id, m.id, m.type, generation);
    if (m.type === 'user') mirror.markPending(m.id);
  }
}

/**
 * Lists every assignment (no delta exists for them) and, once the listing is complete, swaps it in
 * and recomputes the groups in scope. An interrupted listing changes nothing.
 */
export async function syncAssignments(ctx: CycleContext, servicePrincipalId: string): Promise<void> {
  const { store, log } = ctx;
  store.transaction(() => store.assignmentListing.begin());
  let total = 0;
  for await (const page of assignmentPages(ctx.api, servicePrincipalId)) {
    total += page.length;
    store.assignmentListing.add(page);
  }
  const appRoles = ctx.mappings.usesAppRoleAssignments
    ? await readAppRoles(ctx.api, servicePrincipalId)
    : null;
  store.transaction(() => {
    if (appRoles) store.mirror.setAppRoles(appRoles);
    const changes = store.assignmentListing.commit();
    const groups = store.mirror.refreshScopeGroups(ctx.settings.scope.expandNestedGroups);
    log.info(
      {
        cycleId: ctx.cycleId,
        assignments: total,
        ...changes,
        groupsEntered: groups.entered,
        groupsLeft: groups.left,
      },
      'scope read',
    );
  });
}
