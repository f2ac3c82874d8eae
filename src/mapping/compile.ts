/** Validation and compilation of the configured mappings. */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { printNode, walk, type Node } from './ast.js';
import { ExpressionError, MappingConfigError, MappingEvaluationError } from './errors.js';
import { checkTree, readAttribute, runTree, VIRTUAL_ATTRIBUTES } from './evaluator.js';
import { APP_ROLE_ASSIGNMENTS } from './functions/context.js';
import { lookupFunction } from './functions/registry.js';
import { parseExpression } from './parser.js';
import { rolesMappingProblem } from './roles-mapping.js';
import { isRolesPath, parseTargetPath, TargetPathError, type TargetPath } from './scim-path.js';
import { toTargetValue } from './target-value.js';
import type {
  EvaluatedMapping,
  EvaluationContext,
  MappingDefinition,
  ScimValue,
  SourceInput,
} from './types.js';
import { toOutputText } from './values.js';
import { unknownSourceAttribute } from './source-attributes.js';

export const mappingDefinitionSchema: z.ZodType<MappingDefinition> = z
  .strictObject({
    target: z.string().min(1, 'target must not be empty'),
    direct: z.string().min(1, 'direct must name an attribute').optional(),
    constant: z.string().optional(),
    expression: z.string().min(1, 'expression must not be empty').optional(),
    defaultValue: z.string().optional(),
    apply: z.enum(['always', 'create-only']).optional(),
    matchingPrecedence: z.number().int().positive().optional(),
  })
  .refine((d) => [d.direct, d.constant, d.expression].filter((x) => x !== undefined).length === 1, {
    message: 'exactly one of direct, constant or expression is required',
    path: ['source'],
  });

export interface CompiledMappings {
  /** sha256 hex of the normalised definitions (changes when the mappings change). */
  readonly fingerprint: string;
  /** Real Entra user attributes the mappings read, sorted, for Graph $select (no virtual ones). */
  readonly sourceAttributes: readonly string[];
  readonly usesAppRoleAssignments: boolean;
  /** A mapping reads the manager reference: its changes and its row's coming and going re-plan reports. */
  readonly usesManager: boolean;
  /** Ascending precedence. */
  readonly matching: readonly { target: string; precedence: number }[];
  readonly definitions: readonly MappingDefinition[];
  /** Advice about valid mappings, each naming its mapping (e.g. patterns that backtrack badly in Entra). */
  readonly warnings: readonly string[];
  /** One result per mapping, in config order; throws MappingEvaluationError. */
  evaluate(input: SourceInput, ctx: EvaluationContext): EvaluatedMapping[];
}

type Source =
  { kind: 'direct'; name: string } | { kind: 'constant'; value: string } | { kind: 'expression'; tree: Node };

interface CompiledMapping {
  path: TargetPath;
  source: Source;
  defaultValue: ScimValue | null;
  apply: 'always' | 'create-only';
}

const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const label = (i: number, target: unknown): string =>
  `mappings[${i}]${typeof target === 'string' && target !== '' ? ` (target "${target}")` : ''}`;

/** Parses and statically checks one expression; ExpressionError on failure. */
function compileExpression(expr: string): Node {
  const tree = parseExpression(expr);
  checkTree(tree);
  // Canonical function names, so the fingerprint ignores their case.
  walk(tree, (n) => {
    if (n.type === 'call') n.name = lookupFunction(n.name)?.name ?? n.name;
  });
  return tree;
}

function uses(tree: Node, fnName: string): boolean {
  let found = false;
  walk(tree, (n) => {
    if (n.type === 'call' && n.name.toLowerCase() === fnName.toLowerCase()) found = true;
  });
  return found;
}

export interface CompileOptions {
  /**
   * Every attribute a mapping reads must be a Graph user property, a directory extension or a
   * virtual attribute (source-attributes.ts). On for the configured mappings; off for tests and tools
   * that evaluate made-up attributes.
   */
  graphSources?: boolean;
}

export function compileMappings(
  defs: readonly MappingDefinition[],
  options: CompileOptions = {},
): CompiledMappings {
  if (!Array.isArray(defs)) throw new MappingConfigError('mappings must be a list', -1, 'mappings');
  const compiled: CompiledMapping[] = [];
  const seen = new Map<string, number>();
  const attributes = new Set<string>();
  let usesAppRoleAssignments = false;
  const matching: { target: string; precedence: number }[] = [];
  const precedences = new Map<number, number>();
  const normalised: unknown[] = [];
  const warnings: string[] = [];
  // roles and the primary role's parts write one attribute: one way or the other, not both.
  let rolesMapping: { index: number; kind: string } | null = null;

  defs.forEach((raw, i) => {
    const parsed = mappingDefinitionSchema.safeParse(raw);
    const rawTarget = (raw as { target?: unknown } | null)?.target;
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = String(issue?.path[0] ?? 'mapping');
      throw new MappingConfigError(
        `${label(i, rawTarget)}, ${field}: ${issue?.message ?? 'invalid'}`,
        i,
        field,
      );
    }
    const def = parsed.data;
    let path: TargetPath;
    try {
      path = parseTargetPath(def.target);
    } catch (e) {
      if (e instanceof TargetPathError)
        throw new MappingConfigError(`${label(i, def.target)}: ${e.message}`, i, 'target');
      throw e;
    }
    const dup = seen.get(path.canonical);
    if (dup !== undefined) {
      throw new MappingConfigError(
        `${label(i, def.target)}: duplicate target, already mapped by mappings[${dup}]`,
        i,
        'target',
      );
    }
    seen.set(path.canonical, i);
    if (path.kind === 'manager') checkManagerMapping(def, i);
    if (isRolesPath(path)) {
      if (rolesMapping && rolesMapping.kind !== path.kind) {
        throw new MappingConfigError(
          `${label(i, def.target)}: roles is already mapped by mappings[${rolesMapping.index}]; map roles whole (AppRoleAssignmentsComplex) or its primary role (SingleAppRoleAssignment), not both`,
          i,
          'target',
        );
      }
      rolesMapping ??= { index: i, kind: path.kind };
    }
    const apply = def.apply ?? 'always';

    let source: Source;
    let normalisedSource: Record<string, string>;
    if (def.direct !== undefined) {
      const name = def.direct.trim();
      if (!ATTRIBUTE_NAME.test(name)) {
        throw new MappingConfigError(
          `${label(i, def.target)}, direct: invalid attribute name "${def.direct}"`,
          i,
          'direct',
        );
      }
      if (options.graphSources) checkSource(name, i, def.target, 'direct');
      source = { kind: 'direct', name };
      normalisedSource = { direct: name };
      attributes.add(name);
    } else if (def.constant !== undefined) {
      source = { kind: 'constant', value: def.constant };
      normalisedSource = { constant: def.constant };
    } else {
      const expr = def.expression ?? '';
      let tree: Node;
      try {
        tree = compileExpression(expr);
      } catch (e) {
        if (e instanceof ExpressionError) {
          throw new MappingConfigError(
            `${label(i, def.target)}, expression at position ${e.position}: ${e.detail}`,
            i,
            'expression',
            e.position,
          );
        }
        throw e;
      }
      if (uses(tree, 'SelectUniqueValue') && def.matchingPrecedence !== undefined) {
        throw new MappingConfigError(
          `${label(i, def.target)}, matchingPrecedence: SelectUniqueValue cannot be used on a matching attribute`,
          i,
          'matchingPrecedence',
        );
      }
      if (uses(tree, 'SelectUniqueValue') && apply !== 'create-only') {
        throw new MappingConfigError(
          `${label(i, def.target)}, apply: SelectUniqueValue only runs during object creation; set apply: create-only`,
          i,
          'apply',
        );
      }
      walk(tree, (n) => {
        if (n.type === 'attribute' && options.graphSources) checkSource(n.name, i, def.target, 'expression');
        if (n.type === 'attribute') attributes.add(n.name);
        const warning = n.type === 'call' ? lookupFunction(n.name)?.warn?.(n.args) : undefined;
        if (warning) warnings.push(`${label(i, def.target)}: ${warning}`);
      });
      source = { kind: 'expression', tree };
      normalisedSource = { expression: printNode(tree) };
    }
    if (isRolesPath(path)) {
      const problem = rolesMappingProblem(path, def, source.kind === 'expression' ? source.tree : null);
      if (problem)
        throw new MappingConfigError(
          `${label(i, def.target)}, ${problem.field}: ${problem.message}`,
          i,
          problem.field,
        );
    }

    let defaultValue: ScimValue | null = null;
    if (def.defaultValue !== undefined) {
      try {
        defaultValue = toTargetValue(def.defaultValue, path.type, path.canonical);
      } catch (e) {
        if (e instanceof MappingEvaluationError) {
          throw new MappingConfigError(
            `${label(i, def.target)}, defaultValue: ${e.message}`,
            i,
            'defaultValue',
          );
        }
        throw e;
      }
    }

    if (def.matchingPrecedence !== undefined) {
      const other = precedences.get(def.matchingPrecedence);
      if (other !== undefined) {
        throw new MappingConfigError(
          `${label(i, def.target)}, matchingPrecedence: ${def.matchingPrecedence} is already used by mappings[${other}]`,
          i,
          'matchingPrecedence',
        );
      }
      precedences.set(def.matchingPrecedence, i);
      matching.push({ target: path.canonical, precedence: def.matchingPrecedence });
    }

    compiled.push({ path, source, defaultValue, apply });
    normalised.push({
      target: path.canonical,
      ...normalisedSource,
      defaultValue: def.defaultValue ?? null,
      apply,
      matchingPrecedence: def.matchingPrecedence ?? null,
    });
  });

  if (!seen.has('userName')) {
    throw new MappingConfigError(
      'mappings: no mapping to userName (the SCIM User requires it)',
      -1,
      'target',
    );
  }
  // No matchingPrecedence at all is allowed: linking is off (README, "Matching and linking").
  matching.sort((a, b) => a.precedence - b.precedence);

  const virtual = new Set(VIRTUAL_ATTRIBUTES.map((v) => v.toLowerCase()));
  for (const a of attributes)
    if (a.toLowerCase() === APP_ROLE_ASSIGNMENTS.toLowerCase()) usesAppRoleAssignments = true;
  const sourceAttributes = [...attributes].filter((a) => !virtual.has(a.toLowerCase())).sort();
  const fingerprint = createHash('sha256').update(JSON.stringify(normalised)).digest('hex');
  const definitions = defs.map((d) => ({ ...d }));

  return {
    fingerprint,
    sourceAttributes,
    usesAppRoleAssignments,
    usesManager: sourceAttributes.includes('manager'),
    matching,
    definitions,
    warnings,
    evaluate: (input, ctx) => compiled.map((m) => evaluateOne(m, input, ctx)),
  };
}

/** A name no user has would sync an empty value for everyone: a configuration error, with a hint. */
function checkSource(name: string, i: number, target: string, field: 'direct' | 'expression'): void {
  const problem = unknownSourceAttribute(name);
  if (problem) throw new MappingConfigError(`${label(i, target)}, ${field}: ${problem}`, i, field);
}

function evaluateOne(m: CompiledMapping, input: SourceInput, ctx: EvaluationContext): EvaluatedMapping {
  const out: EvaluatedMapping = {
    target: m.path.canonical,
    value: null,
    defaultValue: m.defaultValue,
    apply: m.apply,
  };
  if (ctx.mode === 'update' && m.apply === 'create-only') return out;
  try {
    switch (m.source.kind) {
      case 'direct':
        out.value = toTargetValue(readAttribute(m.source.name, input), m.path.type, m.path.canonical);
        break;
      case 'constant':
        out.value = toTargetValue(m.source.value, m.path.type, m.path.canonical);
        break;
      case 'expression': {
        const r = runTree(m.source.tree, input, ctx, m.path.canonical);
        if (r.flow === 'object') out.skipObject = true;
        else if (!r.flow) out.value = toTargetValue(r.value, m.path.type, m.path.canonical);
        break;
      }
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new MappingEvaluationError(`mapping to ${m.path.canonical}: ${msg}`);
  }
  return out;
}

/** Parses and checks one expression; throws MappingConfigError (mappingIndex -1) with the position. */
export function checkExpression(expr: string): void {
  compileStandalone(expr);
}

function compileStandalone(expr: string): Node {
  try {
    return compileExpression(expr);
  } catch (e) {
    if (e instanceof ExpressionError) {
      throw new MappingConfigError(
        `expression at position ${e.position}: ${e.detail}`,
        -1,
        'expression',
        e.position,
      );
    }
    throw e;
  }
}

/**
 * Evaluates one expression (for `entrasync mappings eval`). The result is rendered as text like Entra's
 * parseExpression does (booleans "True"/"False", DateTimes `M/d/yyyy h:mm:ss tt`); lists stay lists; null when
 * the result is null or the flow is ignored. `target` is what SelectUniqueValue checks against.
 */
export function evaluateExpression(
  expr: string,
  input: SourceInput,
  ctx: EvaluationContext,
  target = 'userName',
): ScimValue | null {
  const tree = compileStandalone(expr);
  const r = runTree(tree, input, ctx, target);
  if (r.flow) return null;
  return toOutputText(r.value);
}

/**
 * The manager is a reference: its source is the manager's Entra id, which the planner replaces by
 * the manager's local id. Any other source (an expression, a constant, a default) has no row to
 * point at, and a reference cannot identify the user it belongs to.
 */
function checkManagerMapping(def: MappingDefinition, i: number): void {
  const field =
    def.direct === undefined ? (def.constant === undefined ? 'expression' : 'constant') : 'direct';
  if (def.direct?.trim() !== 'manager')
    throw new MappingConfigError(
      `${label(i, def.target)}, ${field}: the manager is mapped only from "direct: manager" (the manager's Entra id, resolved to its local row)`,
      i,
      field,
    );
  for (const key of ['defaultValue', 'matchingPrecedence'] as const)
    if (def[key] !== undefined)
      throw new MappingConfigError(
        `${label(i, def.target)}, ${key}: not allowed on the manager reference`,
        i,
        key,
      );
}
