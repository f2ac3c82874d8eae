/**
 * Group attribute mappings (Entra's "Provision Microsoft Entra ID Groups" mapping page): Graph group
 * properties onto a SCIM 2.0 Group resource, with the same expression language as users. Pure.
 */
import { createHash } from 'node:crypto';
import { printNode, walk, type Node } from './ast.js';
import { ExpressionError, MappingConfigError, MappingEvaluationError } from './errors.js';
import { checkTree, readAttribute, runTree } from './evaluator.js';
import { lookupFunction } from './functions/registry.js';
import { parseExpression } from './parser.js';
import { scimValuesEqual } from './project.js';
import { toTargetValue } from './target-value.js';
import type { MappingDefinition, ModifiedProperty, ScimValue } from './types.js';
import { closestName } from './source-attributes.js';

export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

/** Entra's default group mappings for SCIM applications. */
export const DEFAULT_GROUP_MAPPINGS: readonly MappingDefinition[] = [
  { target: 'displayName', direct: 'displayName', matchingPrecedence: 1 },
  { target: 'externalId', direct: 'objectId' },
  { target: 'members', direct: 'members' },
];

/** Microsoft Graph v1.0 `group` properties a groups/delta `$select` can carry. */
export const GRAPH_GROUP_PROPERTIES = [
  'assignedLabels',
  'assignedLicenses',
  'classification',
  'createdDateTime',
  'deletedDateTime',
  'description',
  'displayName',
  'expirationDateTime',
  'groupTypes',
  'id',
  'isAssignableToRole',
  'mail',
  'mailEnabled',
  'mailNickname',
  'membershipRule',
  'membershipRuleProcessingState',
  'onPremisesDomainName',
  'onPremisesLastSyncDateTime',
  'onPremisesNetBiosName',
  'onPremisesSamAccountName',
  'onPremisesSecurityIdentifier',
  'onPremisesSyncEnabled',
  'preferredDataLocation',
  'preferredLanguage',
  'proxyAddresses',
  'renewedDateTime',
  'securityEnabled',
  'securityIdentifier',
  'theme',
  'uniqueName',
  'visibility',
] as const;

/** Entra's name for the group's id; read from `id`. */
export const OBJECT_ID = 'objectId';
/** The membership source: not an attribute, it turns membership sync on. */
export const MEMBERS = 'members';

const KNOWN = new Map(
  [...GRAPH_GROUP_PROPERTIES, OBJECT_ID].map((name) => [name.toLowerCase(), name as string]),
);

export type GroupTargetPath =
  | { kind: 'simple'; canonical: 'displayName' | 'externalId' }
  | { kind: 'members'; canonical: 'members' }
  | { kind: 'extension'; canonical: string; schema: string; attr: string };

/** `urn:…:<schema>:<attribute>`: an extension attribute, kept under its schema in the resource. */
const EXTENSION = /^(urn:[A-Za-z0-9:._-]+):([A-Za-z][A-Za-z0-9_]*)$/;

export function parseGroupTarget(raw: string): GroupTargetPath {
  const path = raw.trim();
  const lower = path.toLowerCase();
  if (lower === 'displayname') return { kind: 'simple', canonical: 'displayName' };
  if (lower === 'externalid') return { kind: 'simple', canonical: 'externalId' };
  if (lower === 'members') return { kind: 'members', canonical: 'members' };
  if (lower === 'id') throw new Error('"id" is the target\'s primary key and must not be mapped');
  const m = EXTENSION.exec(path);
  if (m && m[1]!.toLowerCase() !== GROUP_SCHEMA.toLowerCase())
    return { kind: 'extension', canonical: path, schema: m[1]!, attr: m[2]! };
  throw new Error(
    `unknown group target "${raw}" (expected displayName, externalId, members or an extension attribute urn:…:<attribute>)`,
  );
}

export interface CompiledGroupMappings {
  /** Changes when the group mappings change (joins the sync fingerprint). */
  readonly fingerprint: string;
  /** Graph group properties read, for groups/delta `$select` (no id, no members). */
  readonly sourceAttributes: readonly string[];
  /** A mapping to `members` exists: memberships are synced. */
  readonly syncsMembers: boolean;
  /** Ascending precedence (displayName only: the one target a local group is found by). */
  readonly matching: readonly { target: string; precedence: number }[];
  /** The SCIM Group resource of a group (no members); throws MappingEvaluationError. */
  evaluate(attributes: Record<string, unknown>, mode: 'create' | 'update', now: () => Date): GroupEvaluation;
}

export interface GroupEvaluation {
  values: { path: GroupTargetPath; value: ScimValue | null; defaultValue: ScimValue | null; apply: string }[];
  /** IgnoreObjectFlow: the group is skipped. */
  skipObject: boolean;
}

type Source =
  { kind: 'direct'; name: string } | { kind: 'constant'; value: string } | { kind: 'expression'; tree: Node };

interface CompiledGroupMapping {
  path: GroupTargetPath;
  source: Source;
  defaultValue: ScimValue | null;
  apply: 'always' | 'create-only';
}

const label = (i: number, target: unknown): string =>
  `groups.mappings[${i}]${typeof target === 'string' && target !== '' ? ` (target "${target}")` : ''}`;

/** Null when a group mapping may read `name`; else the problem, with the nearest known name. */
export function unknownGroupSourceAttribute(name: string): string | null {
  if (KNOWN.has(name.toLowerCase())) return null;
  const problem = `unknown source attribute "${name}"`;
  const suggestion = closestName(name, KNOWN);
  return suggestion
    ? `${problem} (did you mean "${suggestion}"?)`
    : `${problem}: not a property of the Microsoft Graph group resource`;
}

/**
 * Compiles the group mappings; MappingConfigError names the mapping and field (index into
 * groups.mappings). Rules: displayName is required; `members` maps only from `members`, and
 * `members` is no source for anything else; matching is by displayName only.
 */
export function compileGroupMappings(defs: readonly MappingDefinition[]): CompiledGroupMappings {
  const compiled: CompiledGroupMapping[] = [];
  const seen = new Map<string, number>();
  const attributes = new Set<string>();
  const matching: { target: string; precedence: number }[] = [];
  const normalised: unknown[] = [];
  defs.forEach((def, i) => {
    const fail = (field: string, message: string, position?: number): never => {
      throw new MappingConfigError(`${label(i, def.target)}, ${field}: ${message}`, i, field, position);
    };
    let path: GroupTargetPath;
    try {
      path = parseGroupTarget(def.target);
    } catch (e) {
      return fail('target', (e as Error).message);
    }
    const dup = seen.get(path.canonical.toLowerCase());
    if (dup !== undefined) fail('target', `duplicate target, already mapped by groups.mappings[${dup}]`);
    seen.set(path.canonical.toLowerCase(), i);
    const apply = def.apply ?? 'always';
    let source: Source;
    if (path.kind === 'members') {
      if (def.direct?.trim().toLowerCase() !== MEMBERS)
        fail('direct', 'the members target takes `direct: members` and nothing else');
      source = { kind: 'direct', name: MEMBERS };
    } else if (def.direct !== undefined) {
      const name = def.direct.trim();
      if (name.toLowerCase() === MEMBERS)
        fail('direct', '`members` is the source of the members target only');
      const problem = unknownGroupSourceAttribute(name);
      if (problem) fail('direct', problem);
      source = { kind: 'direct', name: KNOWN.get(name.toLowerCase())! };
      attributes.add(source.name);
    } else if (def.constant !== undefined) {
      source = { kind: 'constant', value: def.constant };
    } else {
      let tree: Node;
      try {
        tree = parseExpression(def.expression ?? '');
        checkTree(tree);
      } catch (e) {
        if (e instanceof ExpressionError)
          return fail('expression', `at position ${e.position}: ${e.detail}`, e.position);
        throw e;
      }
      walk(tree, (n) => {
        if (n.type === 'call') n.name = lookupFunction(n.name)?.name ?? n.name;
        if (n.type !== 'attribute') return;
        const problem =
          n.name.toLowerCase() === MEMBERS
            ? '`members` cannot be read by an expression'
            : unknownGroupSourceAttribute(n.name);
        if (problem) fail('expression', problem);
        attributes.add(KNOWN.get(n.name.toLowerCase())!);
      });
      if (/SelectUniqueValue/i.test(printNode(tree)))
        fail('expression', 'SelectUniqueValue is for users only');
      source = { kind: 'expression', tree };
    }
    if (def.matchingPrecedence !== undefined) {
      if (path.canonical !== 'displayName')
        fail('matchingPrecedence', 'a local group is matched by displayName only');
      matching.push({ target: path.canonical, precedence: def.matchingPrecedence });
    }
    let defaultValue: ScimValue | null = null;
    if (def.defaultValue !== undefined) {
      if (path.kind === 'members') fail('defaultValue', 'members takes no default value');
      defaultValue = toTargetValue(def.defaultValue, 'string', path.canonical);
    }
    compiled.push({ path, source, defaultValue, apply });
    normalised.push({
      target: path.canonical,
      source: source.kind === 'expression' ? { expression: printNode(source.tree) } : source,
      defaultValue,
      apply,
      matchingPrecedence: def.matchingPrecedence ?? null,
    });
  });
  if (!seen.has('displayname'))
    throw new MappingConfigError(
      'groups.mappings: no mapping to displayName (the SCIM Group requires it)',
      -1,
      'target',
    );
  attributes.delete(OBJECT_ID);
  attributes.delete('id');
  return {
    fingerprint: createHash('sha256').update(JSON.stringify(normalised)).digest('hex'),
    sourceAttributes: [...attributes].sort(),
    syncsMembers: compiled.some((m) => m.path.kind === 'members'),
    matching,
    evaluate: (attrs, mode, now) => evaluateGroup(compiled, attrs, mode, now),
  };
}

function evaluateGroup(
  compiled: readonly CompiledGroupMapping[],
  attrs: Record<string, unknown>,
  mode: 'create' | 'update',
  now: () => Date,
): GroupEvaluation {
  // objectId is Entra's name for the id; the mirror keeps Graph's.
  const input = { attributes: { ...attrs, [OBJECT_ID]: attrs.id ?? null }, isSoftDeleted: false };
  const values: GroupEvaluation['values'] = [];
  let skipObject = false;
  for (const m of compiled) {
    if (m.path.kind === 'members') continue;
    if (mode === 'update' && m.apply === 'create-only') continue;
    let value: ScimValue | null = null;
    try {
      if (m.source.kind === 'direct')
        value = toTargetValue(readAttribute(m.source.name, input), 'string', m.path.canonical);
      else if (m.source.kind === 'constant')
        value = toTargetValue(m.source.value, 'string', m.path.canonical);
      else {
        const r = runTree(m.source.tree, input, { now, mode }, m.path.canonical);
        if (r.flow === 'object') skipObject = true;
        else if (!r.flow) value = toTargetValue(r.value, 'string', m.path.canonical);
      }
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new MappingEvaluationError(`group mapping to ${m.path.canonical}: ${msg}`);
    }
    values.push({ path: m.path, value, defaultValue: m.defaultValue, apply: m.apply });
  }
  return { values, skipObject };
}

/**
 * The SCIM Group resource after the evaluated mappings, with what changed (Entra's Modified
 * Properties). create: value ?? default; update: nulls do not flow. `existing` is not mutated.
 */
export function projectGroup(
  existing: Record<string, unknown> | null,
  evaluation: GroupEvaluation,
  mode: 'create' | 'update',
): { resource: Record<string, unknown>; modified: ModifiedProperty[] } {
  const resource: Record<string, unknown> = existing ? structuredClone(existing) : {};
  const schemas = new Set<string>([GROUP_SCHEMA]);
  if (Array.isArray(resource.schemas))
    for (const s of resource.schemas) if (typeof s === 'string') schemas.add(s);
  const modified: ModifiedProperty[] = [];
  for (const m of evaluation.values) {
    const value = mode === 'create' ? (m.value ?? m.defaultValue) : m.value;
    if (value === null) continue;
    const old = readGroupValue(resource, m.path);
    if (scimValuesEqual(old, value)) continue;
    if (m.path.kind === 'extension') {
      const holder = resource[m.path.schema];
      const obj =
        typeof holder === 'object' && holder !== null && !Array.isArray(holder)
          ? (holder as Record<string, unknown>)
          : {};
      obj[m.path.attr] = value;
      resource[m.path.schema] = obj;
      schemas.add(m.path.schema);
    } else resource[m.path.canonical] = value;
    modified.push({ target: m.path.canonical, oldValue: old, newValue: value });
  }
  resource.schemas = [...schemas];
  return { resource, modified };
}

export function readGroupValue(resource: Record<string, unknown>, path: GroupTargetPath): ScimValue | null {
  const v =
    path.kind === 'extension'
      ? (resource[path.schema] as Record<string, unknown> | undefined)?.[path.attr]
      : resource[path.canonical];
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

/**
 * groups.filter (scope `all`): an expression over the group's attributes; the group is in scope when
 * it yields "True" (any case). Throws MappingConfigError (field `filter`) when it does not compile.
 */
export function compileGroupFilter(
  expression: string,
): (attributes: Record<string, unknown>, now: () => Date) => boolean {
  let tree: Node;
  try {
    tree = parseExpression(expression);
    checkTree(tree);
  } catch (e) {
    if (e instanceof ExpressionError)
      throw new MappingConfigError(
        `groups.filter, at position ${e.position}: ${e.detail}`,
        -1,
        'filter',
        e.position,
      );
    throw e;
  }
  walk(tree, (n) => {
    if (n.type !== 'attribute') return;
    const problem = unknownGroupSourceAttribute(n.name);
    if (problem) throw new MappingConfigError(`groups.filter: ${problem}`, -1, 'filter');
  });
  return (attributes, now) => {
    const input = { attributes: { ...attributes, [OBJECT_ID]: attributes.id ?? null }, isSoftDeleted: false };
    const r = runTree(tree, input, { now }, 'filter');
    if (r.flow) return false;
    return typeof r.value === 'boolean'
      ? r.value
      : String(r.value ?? '')
          .trim()
          .toLowerCase() === 'true';
  };
}

/** The Graph properties the filter reads (groups/delta `$select`). */
export function groupFilterAttributes(expression: string): string[] {
  const names = new Set<string>();
  walk(parseExpression(expression), (n) => {
    if (n.type === 'attribute') {
      const known = KNOWN.get(n.name.toLowerCase());
      if (known && known !== OBJECT_ID && known !== 'id') names.add(known);
    }
  });
  return [...names].sort();
}
