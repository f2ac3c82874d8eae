import {
  MappingEvaluationError,
  projectMappings,
  readScimValue,
  type EvaluatedMapping,
  type ScimUserResource,
} from '../mapping/index.js';
import type {
  LinkOnlyWhere,
  PlanSettings,
  PlannedAction,
  StoreLookup,
  StoreUser,
  UserFacts,
} from './types.js';
import {
  causeOf,
  createReason,
  disableReason,
  firstSightReason,
  reason,
  type Cause,
  type Reason,
} from './reasons.js';
import { sameUserName, userNameProblem } from './user-name.js';
import { clearStaleManager, resolveManager } from './manager.js';

/**
 * Decides what happens to one Entra user, as Entra's provisioning would (graph-semantics §6.4–6.6).
 * Pure: facts and lookups in, one action out; nothing is written here.
 */
export function planUser(facts: UserFacts, settings: PlanSettings, lookup: StoreLookup): PlannedAction {
  const { entraId, source, linked } = facts;
  const skip = (why: Reason, quiet = false, release?: boolean): SkipAction => ({
    kind: 'skip',
    entraId,
    row: linked,
    ...why,
    quiet,
    release,
  });

  if (facts.hardDeleted) {
    if (!linked) return skip(reason('hard-deleted', 'hard-deleted in Entra, never provisioned'), true);
    if (source?.released)
      return skip(reason('released', 'hard-deleted in Entra; no longer managed since it left scope'));
    if (!settings.actions.delete)
      return skip(reason('action-off', 'hard-deleted in Entra; the delete action is off'));
    return { kind: 'delete', entraId, row: linked, ...reason('hard-deleted', 'hard-deleted in Entra') };
  }
  if (!source) return skip(reason('not-listed', 'not listed by Graph'), true);

  // A soft delete also drops the user's assignments and memberships from Graph's listings: it is a
  // soft delete, not "left scope", so the user stays managed and a later purge deletes (§6.4).
  const cause = causeOf(facts);
  const isSoftDeleted = cause !== null;

  if (linked && source.released && !facts.inScope)
    return skip(reason('released', 'no longer managed since it left scope'), true);
  if (!linked && cause) {
    // Out of scope is every user of the tenant that is not assigned: no row. Disabled or deleted
    // but assigned is worth one row, the first time (`once`), under the userName it would have.
    if (cause === 'scope') return skip(firstSightReason(cause), true);
    return { ...skip(firstSightReason(cause)), once: true, userName: userNameFor(facts, settings) };
  }

  let evaluated: EvaluatedMapping[];
  try {
    evaluated = resolveManager(
      settings.mappings.evaluate(
        { attributes: source.attributes, isSoftDeleted, appRoleAssignments: facts.appRoles },
        { ...settings.evaluation, mode: linked ? 'update' : 'create' },
      ),
      facts,
    );
  } catch (error) {
    if (!(error instanceof MappingEvaluationError)) throw error;
    return {
      kind: 'error',
      entraId,
      row: linked,
      ...reason('mapping-error', error.message),
      userName: linked?.userName ?? null,
    };
  }
  if (evaluated.some((e) => e.skipObject))
    return skip(reason('skip-object', 'the mappings skip this object (IgnoreObjectFlow)'));

  if (linked) return planLinked(facts, linked, evaluated, cause, settings, lookup);
  return planFirstSight(facts, evaluated, settings, lookup);
}

type SkipAction = Extract<PlannedAction, { kind: 'skip' }>;

/** The userName a create would write; null when the mappings cannot say (that is no error here). */
function userNameFor(facts: UserFacts, settings: PlanSettings): string | null {
  try {
    const evaluated = settings.mappings.evaluate(
      { attributes: facts.source!.attributes, isSoftDeleted: true, appRoleAssignments: facts.appRoles },
      { ...settings.evaluation, mode: 'create' },
    );
    const userName = readScimValue(projectMappings(null, evaluated, 'create').resource, 'userName');
    return typeof userName === 'string' ? userName : null;
  } catch (error) {
    if (error instanceof MappingEvaluationError) return null;
    throw error;
  }
}

function planFirstSight(
  facts: UserFacts,
  evaluated: EvaluatedMapping[],
  settings: PlanSettings,
  lookup: StoreLookup,
): PlannedAction {
  const { entraId } = facts;
  const { resource, modified } = projectMappings(null, evaluated, 'create');
  const userName = readScimValue(resource, 'userName');
  const fail = (text: string, code = 'conflict'): PlannedAction => ({
    kind: 'error',
    entraId,
    row: null,
    ...reason(code, text),
    userName: typeof userName === 'string' ? userName : null,
  });
  if (typeof userName !== 'string' || userName === '')
    return fail('the userName mapping produced no value', 'invalid-user-name');
  const problem = userNameProblem(userName);
  if (problem) return fail(problem, 'invalid-user-name');

  // Matching: the first matching attribute, in precedence order, that finds a row wins. Rows the
  // application did not allow to be linked (matching.linkOnlyWhere) are not candidates.
  for (const { target } of settings.mappings.matching) {
    const value = readScimValue(resource, target);
    if (value === null || Array.isArray(value)) continue;
    const candidates = lookup
      .unlinkedBy(target, String(value))
      .filter((row) => mayLink(row.linkable, settings.linkOnlyWhere));
    if (candidates.length > 1) {
      return fail(`${target} "${String(value)}" matches ${candidates.length} local users; make it unique`);
    }
    const row = candidates[0];
    // Linked to another Entra user earlier in the same batch: a row is linked to one user, ever.
    if (row?.externalId) {
      return fail(
        `${target} "${String(value)}" matches local row ${row.id} (${row.userName}), which is already linked to ${row.externalId}`,
      );
    }
    if (row) {
      const linked = projectMappings(row.resource, evaluated, 'update');
      clearStaleManager(linked.resource, linked.modified, evaluated);
      const conflict = userNameConflict(linked.resource, row, lookup);
      if (conflict) return fail(conflict);
      return {
        kind: 'link',
        entraId,
        row,
        resource: linked.resource,
        modified: linked.modified,
        matchedOn: target,
        ...reason(`matched:${target}`, `linked to local user ${row.userName}, matched on ${target}`),
      };
    }
  }
  const owner = lookup.byUserName(userName);
  if (owner) {
    return fail(
      owner.externalId
        ? `userName "${userName}" already belongs to another Entra user (${owner.externalId})`
        : !mayLink(owner.linkable, settings.linkOnlyWhere)
          ? `userName "${userName}" already belongs to local row ${owner.id}, which is not marked linkable (${
              owner.linkable === false
                ? 'users.linkable = 0'
                : 'matching.linkOnlyWhere: linkable needs users.linkable = 1'
            })`
          : settings.mappings.matching.length === 0
            ? `userName "${userName}" already belongs to a local user, and linking is off (no mapping has a matchingPrecedence)`
            : `userName "${userName}" already belongs to a local user that no matching attribute links to`,
    );
  }
  if (!settings.actions.create) {
    return {
      kind: 'skip',
      entraId,
      row: null,
      ...reason('action-off', 'the create action is off'),
      quiet: false,
    };
  }
  // Every attribute set is listed, from nothing, as Entra's Modified Properties of a create.
  const set = modified.map((m) => ({ ...m, oldValue: null }));
  return { kind: 'create', entraId, resource, modified: set, ...createReason(facts) };
}

function planLinked(
  facts: UserFacts,
  row: StoreUser,
  evaluated: EvaluatedMapping[],
  cause: Cause,
  settings: PlanSettings,
  lookup: StoreLookup,
): PlannedAction {
  const { entraId } = facts;
  const { resource, modified } = projectMappings(row.resource, evaluated, 'update');
  clearStaleManager(resource, modified, evaluated);
  // Back in scope: Entra manages the user again.
  const release = facts.inScope && facts.source?.released ? false : undefined;
  if (modified.length === 0)
    return { kind: 'skip', entraId, row, ...reason('unchanged', 'unchanged'), quiet: true, release };
  if (!settings.actions.update)
    return { kind: 'skip', entraId, row, ...reason('action-off', 'the update action is off'), quiet: false };
  const conflict = userNameConflict(resource, row, lookup);
  if (conflict)
    return { kind: 'error', entraId, row, ...reason('user-name-conflict', conflict), userName: row.userName };
  const wasActive = row.active;
  const isActive = resource.active !== false;
  const kind = wasActive && !isActive ? 'disable' : !wasActive && isActive ? 'enable' : 'update';
  const why =
    kind === 'disable'
      ? disableReason(cause, facts)
      : kind === 'enable'
        ? release === false
          ? reason('back-in-scope', 'assigned to the application again')
          : reason('enabled-in-entra', 'active in Entra and in scope again')
        : reason('attributes-changed', `changed in Entra: ${modified.map((m) => m.target).join(', ')}`);
  return {
    kind,
    entraId,
    row,
    resource,
    modified,
    ...why,
    release: kind === 'disable' && cause === 'scope' ? true : release,
  };
}

/** A new userName for an existing row: unsafe characters, or a name another row holds. */
function userNameConflict(resource: ScimUserResource, row: StoreUser, lookup: StoreLookup): string | null {
  const userName = readScimValue(resource, 'userName');
  if (typeof userName !== 'string' || userName === row.userName) return null;
  const problem = userNameProblem(userName);
  if (problem) return problem;
  // The store's rule (ASCII case only): "ärger" is not "Ärger", so it may belong to another row.
  if (sameUserName(userName, row.userName)) return null;
  const owner = lookup.byUserName(userName);
  return owner && owner.id !== row.id ? `userName "${userName}" already belongs to another user` : null;
}

/** Whether matching may link a row the application marked `linkable` so (null: not marked). */
function mayLink(linkable: boolean | null, linkOnlyWhere: LinkOnlyWhere): boolean {
  return linkOnlyWhere === 'linkable' ? linkable === true : linkable !== false;
}
