import {
  MappingEvaluationError,
  projectGroup,
  type CompiledGroupMappings,
  type GroupEvaluation,
  type ModifiedProperty,
} from '../mapping/index.js';
import type { AuditDraft } from './audit-entry.js';
import { reason, type Reason } from './reasons.js';

/**
 * Decides what happens to one Entra group, as Entra's group provisioning would: create, update in
 * place (a rename keeps the local id), link an unlinked local group by display name, or delete when
 * it left scope or was deleted in Entra. Pure: facts in, one action out.
 */

/** A row of the application's `groups` table, as the planner reads it (the store's StoreGroup). */
export interface LocalGroup {
  id: string;
  externalId: string | null;
  displayName: string;
  resource: Record<string, unknown>;
}

/** What the store knows about one Entra group (the store's KnownGroup conforms). */
export interface GroupFacts {
  entraId: string;
  source: { displayName: string | null; attributes: Record<string, unknown>; removed: boolean } | null;
  assigned: boolean;
  linked: LocalGroup | null;
}

export interface GroupPlanSettings {
  mappings: CompiledGroupMappings;
  actions: { create: boolean; update: boolean; delete: boolean };
  scope: 'assigned' | 'all';
  /** groups.filter (scope `all`): whether the group passes; throws MappingEvaluationError. */
  filter: ((attributes: Record<string, unknown>, now: () => Date) => boolean) | null;
  now: () => Date;
}

/** Why a group is out of scope (the delete's reason code). */
export type GroupCause = 'unassigned' | 'deleted-in-entra' | 'out-of-filter';

interface Base extends Reason {
  entraId: string;
}

export type GroupAction =
  /** `modified`: every attribute the create sets, old value null. */
  | (Base & {
      kind: 'create';
      resource: Record<string, unknown>;
      displayName: string;
      modified: ModifiedProperty[];
    })
  | (Base & {
      kind: 'update' | 'link';
      group: LocalGroup;
      resource: Record<string, unknown>;
      displayName: string;
      modified: ModifiedProperty[];
    })
  | (Base & { kind: 'delete'; group: LocalGroup; cause: GroupCause })
  /** No row change; `inScope` is the verdict the store records; quiet ones are no change (no audit). */
  | (Base & { kind: 'keep'; group: LocalGroup | null; inScope: boolean; quiet: boolean })
  | (Base & { kind: 'error'; group: LocalGroup | null; displayName: string | null });

/** The unlinked local groups of this display name (case-insensitive), for linking. */
export type GroupCandidates = (displayName: string) => readonly LocalGroup[];

export function planGroup(
  facts: GroupFacts,
  settings: GroupPlanSettings,
  candidates: GroupCandidates,
): GroupAction {
  const { entraId, source, linked } = facts;
  const keep = (inScope: boolean, why: Reason, quiet: boolean): GroupAction => ({
    kind: 'keep',
    entraId,
    group: linked,
    inScope,
    quiet,
    ...why,
  });
  const fail = (why: Reason, displayName: string | null): GroupAction => ({
    kind: 'error',
    entraId,
    group: linked,
    displayName: displayName ?? linked?.displayName ?? source?.displayName ?? null,
    ...why,
  });

  let cause: GroupCause | null =
    !source || source.removed
      ? 'deleted-in-entra'
      : settings.scope === 'assigned' && !facts.assigned
        ? 'unassigned'
        : null;
  if (!cause && source && settings.scope === 'all' && settings.filter) {
    try {
      if (!settings.filter(source.attributes, settings.now)) cause = 'out-of-filter';
    } catch (error) {
      if (!(error instanceof MappingEvaluationError)) throw error;
      return fail(reason('filter-error', `groups.filter: ${error.message}`), null);
    }
  }
  if (cause) {
    if (!linked) return keep(false, reason(cause, causeText(cause)), true);
    if (!settings.actions.delete)
      return keep(
        false,
        reason('action-off', `${causeText(cause)}; the delete action is off: no longer managed`),
        false,
      );
    return { kind: 'delete', entraId, group: linked, cause, ...reason(cause, causeText(cause)) };
  }

  let evaluation: GroupEvaluation;
  try {
    evaluation = settings.mappings.evaluate(source!.attributes, linked ? 'update' : 'create', settings.now);
  } catch (error) {
    if (!(error instanceof MappingEvaluationError)) throw error;
    return fail(reason('mapping-error', error.message), null);
  }
  if (evaluation.skipObject)
    return keep(
      false,
      reason('skip-object', 'the group mappings skip this object (IgnoreObjectFlow)'),
      false,
    );

  if (linked) {
    const { resource, modified } = projectGroup(linked.resource, evaluation, 'update');
    if (modified.length === 0) return keep(true, reason('unchanged', 'unchanged'), true);
    if (!settings.actions.update)
      return keep(true, reason('action-off', 'changed in Entra; the update action is off'), false);
    const displayName = nameOf(resource);
    if (!displayName)
      return fail(reason('invalid-display-name', 'the displayName mapping produced no value'), null);
    return {
      kind: 'update',
      entraId,
      group: linked,
      resource,
      displayName,
      modified,
      ...reason('attributes-changed', `changed in Entra: ${modified.map((m) => m.target).join(', ')}`),
    };
  }

  const { resource, modified } = projectGroup(null, evaluation, 'create');
  const displayName = nameOf(resource);
  if (!displayName)
    return fail(reason('invalid-display-name', 'the displayName mapping produced no value'), null);
  if (settings.mappings.matching.length > 0) {
    const found = candidates(displayName).filter((g) => g.externalId === null);
    if (found.length > 1)
      return fail(
        reason(
          'conflict',
          `displayName "${displayName}" matches ${found.length} local groups; make it unique`,
        ),
        displayName,
      );
    const row = found[0];
    if (row) {
      const linkedTo = projectGroup(row.resource, evaluation, 'update');
      return {
        kind: 'link',
        entraId,
        group: row,
        resource: linkedTo.resource,
        displayName: nameOf(linkedTo.resource) ?? displayName,
        modified: linkedTo.modified,
        ...reason('matched:displayName', `linked to local group ${row.displayName}, matched on displayName`),
      };
    }
  }
  if (!settings.actions.create) return keep(true, reason('action-off', 'the create action is off'), false);
  const how = settings.scope === 'all' ? 'in scope: all groups are' : 'in scope: assigned to the application';
  return {
    kind: 'create',
    entraId,
    resource,
    displayName,
    modified: modified.map((m) => ({ ...m, oldValue: null })),
    ...reason('new-assignment', how),
  };
}

function causeText(cause: GroupCause): string {
  switch (cause) {
    case 'unassigned':
      return 'no longer assigned to the application';
    case 'deleted-in-entra':
      return 'deleted in Entra';
    case 'out-of-filter':
      return 'out of scope: groups.filter is not "True" for it';
  }
}

const nameOf = (resource: Record<string, unknown>): string | null =>
  typeof resource.displayName === 'string' && resource.displayName.trim() !== ''
    ? resource.displayName
    : null;

/** The group's audit row; null for a quiet keep (no change). `groupId` once the row exists. */
export function groupAuditOf(
  cycleId: string,
  action: GroupAction,
  groupId: string | null,
): AuditDraft | null {
  if (action.kind === 'keep' && action.quiet) return null;
  const groupName =
    'displayName' in action && action.displayName
      ? action.displayName
      : 'group' in action && action.group
        ? action.group.displayName
        : null;
  return {
    cycleId,
    action: action.kind === 'keep' ? 'skip' : action.kind,
    status: action.kind === 'error' ? 'failure' : action.kind === 'keep' ? 'skipped' : 'success',
    entraId: action.entraId,
    userId: null,
    userName: null,
    modified: 'modified' in action ? action.modified : [],
    reasonCode: action.code,
    reason: action.reason,
    objectType: 'group',
    groupId: groupId ?? ('group' in action && action.group ? action.group.id : null),
    groupName,
  };
}
