/** Projection of evaluated mappings onto a SCIM User resource, with the modified-property diff (pure). */
import {
  addSchema,
  clearRolesPath,
  ENTERPRISE_SCHEMA,
  isRolesPath,
  parseTargetPath,
  readPath,
  USER_SCHEMA,
  writePath,
} from './scim-path.js';
import { roleKey } from './target-value.js';
import type { EvaluatedMapping, ModifiedProperty, ScimUserResource, ScimValue } from './types.js';

/** The value at a SCIM target path, or null. Throws for an unsupported target. */
export function readScimValue(resource: ScimUserResource, target: string): ScimValue | null {
  return readPath(resource, parseTargetPath(target));
}

const isRoleList = (v: ScimValue | null): boolean =>
  Array.isArray(v) && v.some((x) => typeof x === 'object' && x !== null);

export function scimValuesEqual(a: ScimValue | null, b: ScimValue | null): boolean {
  // Roles are a set: the order Entra or the application keeps them in is no change.
  if (isRoleList(a) || isRoleList(b)) {
    const keys = (v: ScimValue | null) =>
      Array.isArray(v) ? v.map((r) => (typeof r === 'object' ? roleKey(r) : String(r))).sort() : [];
    const [ka, kb] = [keys(a), keys(b)];
    return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/**
 * create: value ?? defaultValue, nulls skipped. update: create-only mappings skipped, null values skipped
 * ("nulls are not provisioned"), except on roles: a role no longer held is removed (docs/expressions.md,
 * "App roles"). A property is modified only if it really differs. `existing` is not mutated.
 */
export function projectMappings(
  existing: ScimUserResource | null,
  evaluated: EvaluatedMapping[],
  mode: 'create' | 'update',
): { resource: ScimUserResource; modified: ModifiedProperty[] } {
  const resource: ScimUserResource = existing ? structuredClone(existing) : { schemas: [USER_SCHEMA] };
  if (!Array.isArray(resource.schemas)) resource.schemas = [USER_SCHEMA];
  const modified: ModifiedProperty[] = [];
  for (const m of evaluated) {
    if (m.skipObject) continue;
    if (mode === 'update' && m.apply === 'create-only') continue;
    const value = mode === 'create' ? (m.value ?? m.defaultValue) : m.value;
    const path = parseTargetPath(m.target);
    if (value === null) {
      if (mode === 'create' || !isRolesPath(path)) continue;
      const old = readPath(resource, path);
      if (old === null) continue;
      clearRolesPath(resource, path);
      modified.push({ target: path.canonical, oldValue: old, newValue: null });
      continue;
    }
    const old = readPath(resource, path);
    if (scimValuesEqual(old, value)) continue;
    writePath(resource, path, Array.isArray(value) ? structuredClone(value) : value);
    modified.push({ target: path.canonical, oldValue: old, newValue: value });
  }
  if (resource[ENTERPRISE_SCHEMA] !== undefined) addSchema(resource, ENTERPRISE_SCHEMA);
  return { resource, modified };
}
