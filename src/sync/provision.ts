import type { PlannedAction } from '../plan/types.js';
import { resolveServicePrincipalId } from '../source/assignments.js';
import { findUser } from '../source/users.js';
import { isObjectId, userAttributes } from '../source/validate.js';
import type { CycleDeps } from './context.js';
import { onDemand } from './on-demand.js';
import { applyPlanned, planUsers, storedFacts } from './pipeline.js';
import { syncAssignments } from './scope.js';
import { readUserGroups, type GroupRef } from '../source/groups.js';
import type { CycleContext } from './context.js';

export interface ProvisionStep {
  step: 'import' | 'scope' | 'match' | 'action';
  status: 'success' | 'skipped' | 'failure';
  detail: string;
}

/** How the user is in scope now, or why it is not (Entra's "Determine if user is in scope"). */
export interface ScopeExplanation {
  inScope: boolean;
  via: 'assignment' | 'group' | 'all' | 'none';
  /** The assigned groups that give it scope (via `group`). */
  groups: GroupRef[];
  detail: string;
}

export interface ProvisionResult {
  cycleId: string;
  steps: ProvisionStep[];
  /** Null when the user could not be imported. */
  scope: ScopeExplanation | null;
  action: PlannedAction | null;
}

/**
 * Entra's "provision on demand": one user, now, with a step trace. Scope is evaluated at the time of
 * the request (graph-semantics §6.9): a fresh listing of the assignments, and the user's group
 * memberships read from Graph now, not those the last cycle mirrored.
 */
export function provisionOnDemand(deps: CycleDeps, user: string): Promise<ProvisionResult> {
  const { config, store, api } = deps;
  return onDemand(deps, async ({ ctx, cycleId, steps }) => {
    let action: PlannedAction | null = null;
    let scope: ScopeExplanation | null = null;
    const raw = await findUser(api, user, deps.mappings.sourceAttributes);
    if (!raw) {
      steps.push({
        step: 'import',
        status: 'failure',
        detail: `no user ${user} in Entra (deleted users cannot be provisioned on demand)`,
      });
      return { cycleId, steps, scope, action };
    }
    const parsed = userAttributes(raw);
    if (!isObjectId(raw.id) || 'problem' in parsed) {
      steps.push({
        step: 'import',
        status: 'failure',
        detail: 'problem' in parsed ? parsed.problem : 'the user has no id',
      });
      return { cycleId, steps, scope, action };
    }
    const id = raw.id;
    steps.push({
      step: 'import',
      status: 'success',
      detail: `imported ${String(raw.userPrincipalName ?? id)} (${id})`,
    });
    await store.write(
      () =>
        store.applyBatch({
          cycleId,
          retry: config.settings.safety.retry,
          mirror: [{ op: 'upsert', entraId: id, attributes: parsed.attributes, generation: 0 }],
        }),
      'provision',
    );
    if (config.scope === 'assigned') {
      await syncAssignments(
        ctx,
        await resolveServicePrincipalId(api, config.servicePrincipalId, config.clientId),
      );
    }
    scope = config.scope === 'all' ? ALL_USERS : await scopeNow(ctx, id);
    const now = { inScope: scope.inScope, scopeVia: scope.via === 'none' ? null : scope.via };
    const [stored] = await storedFacts(ctx, [id]);
    const facts = { ...stored!, ...now };
    const enabled = parsed.attributes.accountEnabled !== false;
    steps.push({
      step: 'scope',
      status: facts.inScope && enabled ? 'success' : 'skipped',
      detail: [scope.detail, enabled ? 'active in Entra' : 'disabled in Entra'].join('; '),
    });
    steps.push({
      step: 'match',
      status: 'success',
      detail: facts.linked
        ? `already linked to local user ${facts.linked.userName} (${facts.linked.id})`
        : 'not linked yet; matching attributes are tried in precedence order',
    });
    // One user on an operator's request: the deletion threshold does not apply. Facts and plan are
    // taken inside the write: the application may change the row while the write waits for its lock.
    const done = await store.write(async () => {
      const [current] = await storedFacts(ctx, [id]);
      const planned = await planUsers(ctx, [{ ...current!, ...now }]);
      const [result] = await applyPlanned(ctx, planned, { stage: false });
      return result!.action;
    }, 'provision');
    action = done;
    steps.push({
      step: 'action',
      status: done.kind === 'error' ? 'failure' : done.kind === 'skip' ? 'skipped' : 'success',
      detail: done.kind === 'skip' || done.kind === 'error' ? `${done.kind}: ${done.reason}` : done.kind,
    });
    return { cycleId, steps, scope, action };
  });
}

const ALL_USERS: ScopeExplanation = {
  inScope: true,
  via: 'all',
  groups: [],
  detail: 'in scope: scope is all users',
};

/**
 * Through which assignment the user is in scope now, as the trace says it, or that it is not.
 * Direct assignment first; then the user's groups now (direct memberships, or nested ones too when
 * scope.expandNestedGroups) against the groups assigned to the application.
 */
async function scopeNow(ctx: CycleContext, id: string): Promise<ScopeExplanation> {
  const { scope } = ctx.store;
  if (await scope.isAssigned(id, 'User'))
    return { inScope: true, via: 'assignment', groups: [], detail: 'in scope: assigned directly' };
  const groups = await readUserGroups(ctx.api, id, ctx.settings.scope.expandNestedGroups);
  const assigned: GroupRef[] = [];
  for (const g of groups) if (await scope.isAssigned(g.id, 'Group')) assigned.push(g);
  if (assigned.length === 0) {
    return {
      inScope: false,
      via: 'none',
      groups: [],
      detail: 'out of scope: not assigned (directly or through any assigned group)',
    };
  }
  const names = assigned.map((g) => `${g.displayName ?? g.id} (${g.id})`);
  return {
    inScope: true,
    via: 'group',
    groups: assigned,
    detail: `in scope: through group ${names.join(', ')}, assigned to the application`,
  };
}
