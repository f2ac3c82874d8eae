import type { GroupAction } from '../plan/groups.js';
import { resolveServicePrincipalId } from '../source/assignments.js';
import { isObjectId } from '../source/validate.js';
import type { UserStore } from '../store/index.js';
import { groupCountsRecord, type CycleContext, type CycleDeps } from './context.js';
import { onDemand } from './on-demand.js';
import { groupProvisioning } from './group-settings.js';
import { applyGroups, knownGroups, planGroups, settleMemberships } from './groups.js';
import type { ProvisionStep } from './provision.js';
import { syncGroups, syncScope } from './scope.js';

export interface GroupProvisionResult {
  cycleId: string;
  steps: ProvisionStep[];
  action: GroupAction | null;
  /** The local group after the run, with its member count. */
  group: { id: string; displayName: string; members: number } | null;
}

/**
 * Whether `key` names a group: an Entra group id the mirror knows, a local group's id or display
 * name (case-insensitive), or anything that can name no user (a user is named by object id or by
 * UPN, which always has an @): a group created since the last cycle is found by the delta read.
 * The CLI's `provision` uses it to tell a group from a user.
 */
export async function namesGroup(store: UserStore, key: string): Promise<boolean> {
  if (!isObjectId(key as unknown)) return !key.includes('@') || (await store.groups.find(key)).length > 0;
  return !!(await store.groups.known([key])).get(key)?.source || (await store.groups.find(key)).length > 0;
}

/**
 * Provision on demand for one group: the groups delta (and the assignments) read now, the group
 * planned and applied at once (no deletion threshold: one group on an operator's request), then
 * the memberships marked for it recomputed. The delta read is the cycle's own (its changes are kept,
 * and the next cycle plans what they touched), so Graph is asked for changes, not one group by id.
 */
export function provisionGroupOnDemand(deps: CycleDeps, key: string): Promise<GroupProvisionResult> {
  const { config, store, api } = deps;
  return onDemand(
    deps,
    async ({ ctx, cycleId, steps }) => {
      let action: GroupAction | null = null;
      let group: GroupProvisionResult['group'] = null;
      const gp = groupProvisioning(ctx);
      if (!gp) {
        steps.push({
          step: 'import',
          status: 'failure',
          detail: 'group provisioning is off (groups.enabled: false)',
        });
        return { cycleId, steps, action, group };
      }
      const generation = () => store.write(() => store.state.nextGeneration(), 'provision');
      if (config.scope === 'assigned')
        await syncScope(
          ctx,
          await resolveServicePrincipalId(api, config.servicePrincipalId, config.clientId),
          generation,
        );
      else await syncGroups(ctx, generation);
      const resolved = await resolveGroup(ctx, key);
      const entraId = 'entraId' in resolved ? resolved.entraId : null;
      const [facts] = entraId ? await knownGroups(ctx, [entraId]) : [];
      if (!entraId || !facts?.source) {
        steps.push({
          step: 'import',
          status: 'failure',
          detail:
            'problem' in resolved
              ? resolved.problem
              : `no group ${key} in Entra (a group is named by its Entra id or display name, or the id of a group in the store; a user by UPN or object id)`,
        });
        return { cycleId, steps, action, group };
      }
      steps.push({
        step: 'import',
        status: 'success',
        detail: `imported ${facts.source.displayName ?? entraId} (${entraId})${facts.source.removed ? ', deleted in Entra' : ''}`,
      });
      steps.push({
        step: 'scope',
        status: facts.assigned || config.scope === 'all' ? 'success' : 'skipped',
        detail:
          config.scope === 'all'
            ? 'scope is all groups (groups.filter decides)'
            : facts.assigned
              ? 'in scope: assigned to the application'
              : 'out of scope: not assigned to the application',
      });
      steps.push({
        step: 'match',
        status: 'success',
        detail: facts.linked
          ? `already linked to local group ${facts.linked.displayName} (${facts.linked.id})`
          : 'not linked yet; a local group of the same displayName is linked when matching is on',
      });
      const done = await store.write(async () => {
        const planned = await planGroups(ctx, gp, await knownGroups(ctx, [entraId]));
        await applyGroups(ctx, planned, { stage: false });
        return planned[0]!.action;
      }, 'provision');
      action = done;
      const failed = done.kind === 'error' || ctx.groupCounts.error > 0;
      steps.push({
        step: 'action',
        status: failed ? 'failure' : done.kind === 'keep' ? 'skipped' : 'success',
        detail:
          done.kind === 'keep' || done.kind === 'error'
            ? `${done.kind === 'keep' ? 'skip' : 'error'}: ${done.reason}`
            : done.kind,
      });
      if (gp.plan.mappings.syncsMembers && !failed) await settleMemberships(ctx);
      const row = (await store.groups.known([entraId])).get(entraId)?.linked;
      if (row)
        group = {
          id: row.id,
          displayName: row.displayName,
          members: (await store.groups.memberIds(row.id)).length,
        };
      return { cycleId, steps, action, group };
    },
    (ctx) => ({ ...ctx.counts, ...groupCountsRecord(ctx.groupCounts) }),
  );
}

/**
 * The Entra id `key` names, after the delta read: itself when the mirror knows it; else the link of
 * the one local group it names; else the one group of that display name in Entra. Several groups of
 * one name are a problem to report, never a guess.
 */
async function resolveGroup(
  ctx: CycleContext,
  key: string,
): Promise<{ entraId: string } | { problem: string } | { none: true }> {
  if (isObjectId(key) && (await ctx.store.groups.known([key])).get(key)?.source) return { entraId: key };
  const local = (await ctx.store.groups.find(key)).filter((g) => g.externalId !== null);
  if (local.length === 1) return { entraId: local[0]!.externalId! };
  const mirrored = await ctx.store.groups.mirroredByDisplayName(key);
  if (mirrored.length === 1) return { entraId: mirrored[0]! };
  if (mirrored.length > 1)
    return {
      problem:
        `${mirrored.length} groups in Entra are named ${key} (${mirrored.slice(0, 5).join(', ')}` +
        `${mirrored.length > 5 ? ', …' : ''}); provision one by its Entra id`,
    };
  return { none: true };
}
