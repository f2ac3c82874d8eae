/**
 * The function table: name → arity range + implementation. Adding a function means adding an entry to one of
 * the family lists below. Lookup is case-insensitive.
 */
import { conditionalFunctions } from './conditionals.js';
import { contextFunctions } from './context.js';
import { dateFunctions } from './dates.js';
import { diacriticsFunctions } from './diacritics.js';
import { multiValuedFunctions } from './multivalued.js';
import { numericFunctions } from './numeric.js';
import { replaceFunctions } from './replace.js';
import { stringFunctions } from './strings.js';
import type { FunctionSpec } from './types.js';

const ALL: FunctionSpec[] = [
  ...stringFunctions,
  ...replaceFunctions,
  ...diacriticsFunctions,
  ...conditionalFunctions,
  ...numericFunctions,
  ...multiValuedFunctions,
  ...dateFunctions,
  ...contextFunctions,
];

const BY_NAME = new Map<string, FunctionSpec>();
for (const spec of ALL) {
  const key = spec.name.toLowerCase();
  if (BY_NAME.has(key)) throw new Error(`duplicate function ${spec.name}`);
  BY_NAME.set(key, spec);
}

export function lookupFunction(name: string): FunctionSpec | undefined {
  return BY_NAME.get(name.toLowerCase());
}

export function functionNames(): string[] {
  return ALL.map((s) => s.name).sort();
}
