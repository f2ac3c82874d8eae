/** Shapes shared by the function registry and its families. */
import type { Arg } from '../ast.js';
import type { EvaluationContext, SourceInput } from '../types.js';
import type { Value } from '../values.js';

/** What a function sees of its arguments; evaluation happens on demand (lazy functions) or up front. */
export interface Args {
  /** Number of written argument positions (omitted ones included). */
  readonly count: number;
  /** True when the position is beyond the list or was left empty (`F(a, , b)`). */
  omitted(i: number): boolean;
  /** The value at position i; omitted or missing positions are null. Cached. */
  value(i: number): Value;
}

export interface Env {
  input: SourceInput;
  ctx: EvaluationContext;
  /** Canonical SCIM target of the mapping being evaluated (SelectUniqueValue checks against it). */
  target: string;
}

export interface FunctionSpec {
  /** Canonical spelling; lookup is case-insensitive. */
  name: string;
  minArgs: number;
  maxArgs: number;
  /** Arguments are evaluated only when the implementation asks (IIF, Switch, Coalesce, SelectUniqueValue). */
  lazy?: boolean;
  /** May only be the whole expression (SelectUniqueValue). */
  topLevelOnly?: boolean;
  /** Static check at compile time; returns what was expected, or undefined when fine. */
  check?: (args: readonly Arg[]) => { message: string; arg?: number } | undefined;
  /** Advice about valid arguments at compile time (`mappings check` prints it); undefined when none. */
  warn?: (args: readonly Arg[]) => string | undefined;
  impl: (args: Args, env: Env) => Value;
}

export const fn = (spec: FunctionSpec): FunctionSpec => spec;
