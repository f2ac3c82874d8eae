import type { AttributeValue } from './types.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Longer than any Entra string attribute (the longest documented limit is 1,024 characters).
const MAX_STRING = 4096;
// C0 controls other than tab, CR and LF, and DEL: never legitimate in directory attributes.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export function isObjectId(value: unknown): value is string {
  return typeof value === 'string' && GUID.test(value);
}

/** Checks one attribute value from Graph; returns a problem description or null. */
export function attributeProblem(name: string, value: unknown): string | null {
  if (value === null || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${name} is not a finite number`;
  if (typeof value === 'string') return stringProblem(name, value);
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item !== 'string') return `${name} holds a non-string item`;
      const p = stringProblem(name, item);
      if (p) return p;
    }
    return null;
  }
  if (typeof value === 'object') return null;
  return `${name} has unexpected type ${typeof value}`;
}

function stringProblem(name: string, value: string): string | null {
  if (value.length > MAX_STRING) return `${name} is ${value.length} characters long (limit ${MAX_STRING})`;
  if (CONTROL.test(value)) return `${name} contains control characters`;
  return null;
}

/** The selected attributes of a Graph user object, without the OData annotations. */
export function userAttributes(
  raw: Record<string, unknown>,
): { attributes: Record<string, AttributeValue> } | { problem: string } {
  const attributes: Record<string, AttributeValue> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'id' || key.startsWith('@') || key.includes('@odata.')) continue;
    const problem = attributeProblem(key, value);
    if (problem) return { problem };
    attributes[key] = value as AttributeValue;
  }
  if (
    'accountEnabled' in attributes &&
    typeof attributes.accountEnabled !== 'boolean' &&
    attributes.accountEnabled !== null
  ) {
    return { problem: 'accountEnabled is not a boolean' };
  }
  return { attributes };
}
