/**
 * Static checks (compile time) and evaluation of an expression tree.
 *
 * Decisions (see docs/expressions.md):
 * - Comparisons: a null operand makes every comparison false; numbers compare numerically when both sides parse
 *   as numbers, DateTimes chronologically, everything else by case-sensitive ordinal string comparison.
 * - Attribute lookup tries the exact name, then a case-insensitive match. [IsSoftDeleted] → "True"/"False";
 *   [appRoleAssignments] → the list of role strings (context.ts heldRoles: default access left out, each once).
 * - IgnoreAttributeFlow / IgnoreObjectFlow (bare keywords) stop the flow of the attribute / the whole user.
 * - No function result may exceed MAX_VALUE_LENGTH (limits.ts): that bounds the work of any evaluation.
 */
import type { Arg, Node } from './ast.js';
import { ExpressionError, MappingEvaluationError } from './errors.js';
import { APP_ROLE_ASSIGNMENTS, heldRoles, roleString } from './functions/context.js';
import { lookupFunction } from './functions/registry.js';
import { checkedLength, valueLength } from './limits.js';
import type { Args, Env } from './functions/types.js';
import type { EvaluationContext, SourceInput } from './types.js';
import { boolText, FlowSignal, fromAttribute, parseNumeric, toText, type Value } from './values.js';

export const IS_SOFT_DELETED = 'IsSoftDeleted';
/** Attributes that are not Graph user properties (never sent in $select). */
export const VIRTUAL_ATTRIBUTES = [IS_SOFT_DELETED, APP_ROLE_ASSIGNMENTS];

const KEYWORDS = new Map(
  ['vbBinaryCompare', 'vbTextCompare', 'IgnoreAttributeFlow', 'IgnoreObjectFlow'].map((k) => [
    k.toLowerCase(),
    k,
  ]),
);

const arity = (min: number, max: number): string =>
  min === max
    ? `${min} argument${min === 1 ? '' : 's'}`
    : max === Infinity
      ? `at least ${min} arguments`
      : `${min} to ${max} arguments`;

/** Throws ExpressionError for unknown functions/keywords, wrong argument counts and failed static checks. */
export function checkTree(root: Node): void {
  const visit = (n: Node, top: boolean): void => {
    if (n.type === 'identifier') {
      if (!KEYWORDS.has(n.name.toLowerCase())) {
        throw new ExpressionError(
          `unknown name "${n.name}" (expected a function call, [attribute], string, number or one of ` +
            `${[...KEYWORDS.values()].join(', ')})`,
          n.pos + 1,
        );
      }
    } else if (n.type === 'compare') {
      visit(n.left, false);
      visit(n.right, false);
    } else if (n.type === 'call') {
      const spec = lookupFunction(n.name);
      if (!spec) throw new ExpressionError(`unknown function "${n.name}"`, n.pos + 1);
      if (n.args.length < spec.minArgs || n.args.length > spec.maxArgs) {
        throw new ExpressionError(
          `${spec.name} expects ${arity(spec.minArgs, spec.maxArgs)} but got ${n.args.length}`,
          n.pos + 1,
        );
      }
      if (spec.topLevelOnly && !top) {
        throw new ExpressionError(`${spec.name} must be the whole expression, not nested`, n.pos + 1);
      }
      const problem = spec.check?.(n.args);
      if (problem) {
        const argNode = problem.arg === undefined ? undefined : n.args[problem.arg];
        throw new ExpressionError(problem.message, (argNode?.pos ?? n.pos) + 1);
      }
      for (const a of n.args) if (a) visit(a, false);
    }
  };
  visit(root, true);
}

export function readAttribute(name: string, input: SourceInput): Value {
  const lower = name.toLowerCase();
  if (lower === IS_SOFT_DELETED.toLowerCase()) return boolText(input.isSoftDeleted);
  if (lower === APP_ROLE_ASSIGNMENTS.toLowerCase()) {
    const roles = heldRoles(input);
    return roles.length === 0 ? null : roles.map(roleString);
  }
  const attrs = input.attributes;
  if (Object.prototype.hasOwnProperty.call(attrs, name)) return fromAttribute(attrs[name], name);
  for (const k of Object.keys(attrs)) if (k.toLowerCase() === lower) return fromAttribute(attrs[k], k);
  return null;
}

function compare(op: string, l: Value, r: Value): boolean {
  if (l === null || r === null) return false;
  let c: number;
  if (l instanceof Date && r instanceof Date) c = l.getTime() - r.getTime();
  else {
    const ls = toText(l, `"${op}"`);
    const rs = toText(r, `"${op}"`);
    if (ls === null || rs === null) return false;
    const ln = parseNumeric(ls);
    const rn = parseNumeric(rs);
    if (ln !== null && rn !== null) c = ln - rn;
    else c = ls < rs ? -1 : ls > rs ? 1 : 0;
  }
  switch (op) {
    case '=':
      return c === 0;
    case '<>':
      return c !== 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    default:
      return c >= 0;
  }
}

export function evalNode(n: Node, env: Env): Value {
  switch (n.type) {
    case 'string':
      return n.value;
    case 'number':
      return n.text;
    case 'hex':
      return n.value;
    case 'attribute':
      return readAttribute(n.name, env.input);
    case 'identifier': {
      const k = n.name.toLowerCase();
      if (k === 'ignoreattributeflow') throw new FlowSignal('attribute');
      if (k === 'ignoreobjectflow') throw new FlowSignal('object');
      return KEYWORDS.get(k) ?? n.name;
    }
    case 'compare':
      return compare(n.op, evalNode(n.left, env), evalNode(n.right, env));
    case 'call': {
      const spec = lookupFunction(n.name);
      if (!spec) throw new MappingEvaluationError(`unknown function "${n.name}"`);
      const args = makeArgs(n.args, env);
      if (!spec.lazy) for (let i = 0; i < n.args.length; i++) args.value(i);
      const v = spec.impl(args, env);
      // Every value stays within the bound, so nothing built from it later can grow without limit.
      checkedLength(valueLength(v), spec.name);
      return v;
    }
  }
}

function makeArgs(nodes: readonly Arg[], env: Env): Args {
  const cache = new Map<number, Value>();
  return {
    count: nodes.length,
    omitted: (i) => nodes[i] === undefined || nodes[i] === null,
    value: (i) => {
      if (cache.has(i)) return cache.get(i) as Value;
      const node = nodes[i];
      const v = node ? evalNode(node, env) : null;
      cache.set(i, v);
      return v;
    },
  };
}

export type EvalOutcome = { value: Value; flow?: 'attribute' | 'object' };

/** Evaluates a checked tree; flow-control signals become `flow`, unexpected failures MappingEvaluationError. */
export function runTree(root: Node, input: SourceInput, ctx: EvaluationContext, target: string): EvalOutcome {
  try {
    return { value: evalNode(root, { input, ctx, target }) };
  } catch (e) {
    if (e instanceof FlowSignal) return { value: null, flow: e.flow };
    if (e instanceof MappingEvaluationError) throw e;
    throw new MappingEvaluationError(`evaluation failed: ${(e as Error).message}`);
  }
}
