/**
 * The bound on what one expression may produce. The language has no loops, so an evaluation does work
 * proportional to the expression's size (≤ 10,000 characters) times the size of the values it handles; with
 * regexes in linear time (regex.ts), bounding every value bounds the whole evaluation. Graph's own attributes
 * are far shorter; only an expression that multiplies text (Replace with a long replacement, Join of many
 * values, nested Appends) can reach it. Functions that build text check the length before building it.
 */
import { MappingEvaluationError } from './errors.js';
import type { Value } from './values.js';

/** Characters (UTF-16 units) in one value, or in all the values of a list together. */
export const MAX_VALUE_LENGTH = 100_000;

/**
 * Wall-clock budget of one Replace call across its matches. Each match is linear in the value, but a
 * pattern that matches empty at every position after scanning ahead (`a*b|`) makes a global replace
 * quadratic: 20,000 characters took 10 s. Legitimate replaces take microseconds.
 */
export const REGEX_BUDGET_MS = 1000;

/** Throws for the user being evaluated when `length` is over the bound; returns it otherwise. */
export function checkedLength(length: number, what: string): number {
  if (length > MAX_VALUE_LENGTH) {
    throw new MappingEvaluationError(
      `${what}: the result would exceed ${MAX_VALUE_LENGTH} characters, the bound on any expression value`,
    );
  }
  return length;
}

/** The length a value counts against the bound: its text, or the sum over a list. Other values are short. */
export function valueLength(v: Value): number {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) {
    let n = 0;
    for (const s of v) n += s.length;
    return n;
  }
  return 0;
}
