/** Projection of evaluated mappings onto a SCIM User resource, with the modified-property diff (pure). */
import {
  addSchema,
  ENTERPRISE_SCHEMA,
  parseTargetPath,
  readPath,
  USER_SCHEMA,
  writePath,
} from './scim-path.js';
import type { EvaluatedMapping, ModifiedProperty, ScimUserResource, ScimValue } from './types.js';

/** The value at a SCIM target path, or null. Throws for an unsupported target. */
export function readScimValue(resource: ScimUserResource, target: string): ScimValue | null {
  return readPath(resource, parseTargetPath(target));
}

export function scimValuesEqual(a: ScimValue | null, b: ScimValue | null): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/**
 * create: value ?? defaultValue, nulls skipped. update: create-only mappings skipped, null values skipped
 * ("nulls are not provisioned"). A property is modified only if it really differs. `existing` is not mutated.
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
    if (value === null) continue;
    const path = parseTargetPath(m.target);
    const old = readPath(resource, path);
    if (scimValuesEqual(old, value)) continue;
    writePath(resource, path, Array.isArray(value) ? [...value] : value);
    modified.push({ target: path.canonical, oldValue: old, newValue: value });
  }
  if (resource[ENTERPRISE_SCHEMA] !== undefined) addSchema(resource, ENTERPRISE_SCHEMA);
  return { resource, modified };
}
