import { evaluateExpression, type EvaluationContext, type SourceInput } from '../../src/mapping/index.js';

export const NOW = new Date('2021-07-02T15:33:38Z');

export function ctx(extra: Partial<EvaluationContext> = {}): EvaluationContext {
  return { now: () => NOW, ...extra };
}

export function input(
  attributes: Record<string, unknown> = {},
  extra: Partial<SourceInput> = {},
): SourceInput {
  return { attributes, isSoftDeleted: false, ...extra };
}

/** Evaluates an expression against plain attribute values. */
export function ev(
  expr: string,
  attributes: Record<string, unknown> = {},
  c: Partial<EvaluationContext> = {},
) {
  return evaluateExpression(expr, input(attributes), ctx(c));
}

/** A deterministic random source cycling through the given values. */
export function seq(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}
