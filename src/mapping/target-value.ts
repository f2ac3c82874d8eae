/**
 * Conversion of an expression result to the SCIM type of its target.
 * Decisions (see docs/expressions.md): boolean targets (active) take booleans and "True"/"False" in any case, anything
 * else is an evaluation error; string targets take the text rendering (expressions.md §2). An empty string or
 * empty list flows nothing, like null ("the service does not flow null or empty values").
 */
import { MappingEvaluationError } from './errors.js';
import type { ScimType } from './scim-path.js';
import type { ScimValue } from './types.js';
import { toText, type Value } from './values.js';

export function toTargetValue(v: Value, type: ScimType, target: string): ScimValue | null {
  if (v === null) return null;
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
