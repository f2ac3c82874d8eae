/**
 * Conversion of an expression result to the SCIM type of its target.
 * Decisions (see docs/expressions.md): boolean targets (active) take booleans and "True"/"False" in any case, anything
 * else is an evaluation error; string targets take the text rendering (expressions.md §2). An empty string or
 * empty list flows nothing, like null ("the service does not flow null or empty values"). The `roles` target
 * takes the JSON role objects AppRoleAssignmentsComplex returns, once each, in value order.
 */
import { MappingEvaluationError } from './errors.js';
import type { ScimType } from './scim-path.js';
import type { ScimRole, ScimValue } from './types.js';
import { toText, type Value } from './values.js';

export function toTargetValue(v: Value, type: ScimType, target: string): ScimValue | null {
  if (v === null) return null;
  if (type === 'roles') return toRoles(v, target);
  if (type === 'boolean') {
    if (typeof v === 'boolean') return v;
    const t = toText(v, `target ${target}`);
    if (t === null || t === '') return null;
    const k = t.trim().toLowerCase();
    if (k === 'true') return true;
    if (k === 'false') return false;
    throw new MappingEvaluationError(
      `target ${target} is a boolean and expects "True" or "False" but got "${t}"`,
    );
  }
  const t = toText(v, `target ${target}`);
  return t === null || t === '' ? null : t;
}

function toRoles(v: Value, target: string): ScimRole[] | null {
  const items = Array.isArray(v) ? v : [toText(v, `target ${target}`) ?? ''];
  const byKey = new Map<string, ScimRole>();
  for (const item of items) {
    const role = parseRole(item);
    if (!role) throw new MappingEvaluationError(`target ${target} expects role objects, got "${item}"`);
    byKey.set(roleKey(role), role);
  }
  const roles = [...byKey.values()].sort(compareRoles);
  return roles.length === 0 ? null : roles;
}

function parseRole(text: string): ScimRole | null {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null;
  const { primary, type, display, value } = o as Record<string, unknown>;
  if (typeof value !== 'string' || value === '' || typeof primary !== 'boolean') return null;
  if (
    (type !== undefined && typeof type !== 'string') ||
    (display !== undefined && typeof display !== 'string')
  )
    return null;
  return {
    primary,
    ...(type === undefined ? {} : { type }),
    ...(display === undefined ? {} : { display }),
    value,
  };
}

/** Equal roles have equal keys, whatever the order of their fields. */
export function roleKey(r: Partial<ScimRole>): string {
  return JSON.stringify([r.value ?? null, r.display ?? null, r.type ?? null, r.primary ?? null]);
}

/** Value order (ordinal), then display: a stable order for the list written and compared. */
export function compareRoles(a: Partial<ScimRole>, b: Partial<ScimRole>): number {
  const cmp = (x = '', y = '') => (x < y ? -1 : x > y ? 1 : 0);
  return cmp(a.value, b.value) || cmp(a.display, b.display) || cmp(roleKey(a), roleKey(b));
}
