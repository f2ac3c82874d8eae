import {
  readScimValue,
  type EvaluatedMapping,
  type ModifiedProperty,
  type ScimUserResource,
} from '../mapping/index.js';
import { MANAGER_TARGET, removeManager } from '../mapping/scim-path.js';
import type { UserFacts } from './types.js';

/**
 * The manager mapping yields the manager's Entra id; the store holds the local id of the manager's
 * row. Replaced here by that id, or null when the manager has no row (yet): a manager created later
 * makes this user pending again (store, applyBatch), so the reference is resolved then.
 */
export function resolveManager(evaluated: EvaluatedMapping[], facts: UserFacts): EvaluatedMapping[] {
  return evaluated.map((e) => {
    if (e.target !== MANAGER_TARGET) return e;
    const manager = facts.manager;
    const rowId = e.value !== null && manager && e.value === manager.entraId ? manager.rowId : null;
    return { ...e, value: rowId, defaultValue: null };
  });
}

/**
 * A manager reference that no longer resolves (no manager in Entra, or none in the store) is removed:
 * left in place it would name a row that is no longer the user's manager, or no row at all.
 * Projection keeps values it is not given ("nulls are not provisioned"), so this is done here.
 * Mutates `resource` and `modified`, both fresh from projectMappings.
 */
export function clearStaleManager(
  resource: ScimUserResource,
  modified: ModifiedProperty[],
  evaluated: readonly EvaluatedMapping[],
): void {
  const mapping = evaluated.find((e) => e.target === MANAGER_TARGET);
  if (!mapping || mapping.value !== null || mapping.apply === 'create-only') return;
  const old = readScimValue(resource, MANAGER_TARGET);
  if (old === null) return;
  removeManager(resource);
  modified.push({ target: MANAGER_TARGET, oldValue: old, newValue: null });
}
