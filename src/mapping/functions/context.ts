/**
 * Functions that need something beyond the user's attributes: DefaultDomain (tenant), Guid and RandomString
 * (random source), Redact, SelectUniqueValue (the local store, via ctx.isUniqueInTarget),
 * SingleAppRoleAssignment and AppRoleAssignmentsComplex (the user's app-role assignments).
 *
 * Decisions (see docs/expressions.md):
 * - Guid: version-4 GUID, lower-case, hyphenated, from ctx.random (Math.random when absent).
 * - RandomString: Length ≤ 256; the minimums (all four, MinimumLowerCase included) must fit in Length;
 *   special characters are the Windows password-complexity set; CharactersToAvoid is removed from every pool.
 * - SelectUniqueValue: must be the whole expression and the mapping must be create-only (compile errors);
 *   null/empty candidates are skipped; when every candidate is taken the user fails (Entra escrows it).
 * - App roles (docs/expressions.md, "App roles"): a role's string is its value, else its displayName, else its
 *   appRoleId; default access (the all-zero appRoleId, no value) is no role; a role held twice (directly and
 *   through a group) counts once; roles are taken in role-string order, so the choice below never flaps.
 *   SingleAppRoleAssignment returns the first role (Entra guarantees none when a user holds several), or null;
 *   in roles[primary eq "True"].display it is the role's displayName, in .type "WindowsAzureActiveDirectoryRole".
 *   AppRoleAssignmentsComplex (and AssertiveAppRoleAssignmentsComplex, the same here: the `roles` target is
 *   always replaced whole) returns one JSON object per role, as text:
 *   {"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":…,"value":…}.
 */
import type { Arg } from '../ast.js';
import { MappingEvaluationError } from '../errors.js';
import type { AppRoleAssignmentInput } from '../types.js';
import { isNullOrEmpty, toInteger, toText } from '../values.js';
import { fn, type Env, type FunctionSpec } from './types.js';

export const APP_ROLE_ASSIGNMENTS = 'appRoleAssignments';
/** The functions that write `roles` (whole) and the primary role's parts. */
export const ROLES_FUNCTIONS = ['AppRoleAssignmentsComplex', 'AssertiveAppRoleAssignmentsComplex'];
export const PRIMARY_ROLE_FUNCTIONS = ['SingleAppRoleAssignment'];

const DEFAULT_ACCESS = '00000000-0000-0000-0000-000000000000';
const ROLE_TYPE = 'WindowsAzureActiveDirectoryRole';

export function roleString(r: AppRoleAssignmentInput): string {
  return r.value || r.displayName || r.appRoleId;
}

/** The user's roles: default access left out, each role once, in role-string order. */
export function heldRoles(input: {
  appRoleAssignments?: AppRoleAssignmentInput[];
}): AppRoleAssignmentInput[] {
  const byId = new Map<string, AppRoleAssignmentInput>();
  for (const r of input.appRoleAssignments ?? []) {
    if (r.appRoleId === DEFAULT_ACCESS && !r.value) continue;
    if (!byId.has(r.appRoleId)) byId.set(r.appRoleId, r);
  }
  const key = (r: AppRoleAssignmentInput) =>
    `${roleString(r)}\u0000${r.displayName ?? ''}\u0000${r.appRoleId}`;
  return [...byId.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** SingleAppRoleAssignment's result: the part of the role its target asks for. */
function primaryRolePart(r: AppRoleAssignmentInput, target: string): string | null {
  const sub = /^roles\[primary eq "True"\]\.(display|type)$/.exec(target)?.[1];
  if (sub === 'display') return r.displayName || null;
  if (sub === 'type') return ROLE_TYPE;
  return roleString(r);
}

const complexRoles = (env: Env) => {
  const roles = heldRoles(env.input);
  if (roles.length === 0) return null;
  return roles.map((r) =>
    JSON.stringify({
      primary: false,
      type: ROLE_TYPE,
      ...(r.displayName ? { display: r.displayName } : {}),
      value: roleString(r),
    }),
  );
};

const rnd = (env: Env): (() => number) => env.ctx.random ?? Math.random;
const pick = (env: Env, pool: string): string => {
  const i = Math.min(pool.length - 1, Math.floor(rnd(env)() * pool.length));
  return pool[i] as string;
};

const DIGITS = '0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const SPECIAL = '~!@#$%^&*_-+=`|\\(){}[]:;"\'<>,.?/';

const requireAppRoleAssignments = (name: string) => (args: readonly Arg[]) => {
  const a = args[0];
  return a?.type === 'attribute' && a.name.toLowerCase() === APP_ROLE_ASSIGNMENTS.toLowerCase()
    ? undefined
    : { message: `${name} expects [appRoleAssignments] as its argument`, arg: 0 };
};

export const contextFunctions: FunctionSpec[] = [
  fn({
    name: 'DefaultDomain',
    minArgs: 0,
    maxArgs: 0,
    impl: (_a, env) => {
      if (!env.ctx.defaultDomain)
        throw new MappingEvaluationError('DefaultDomain: the tenant has no default domain');
      return env.ctx.defaultDomain;
    },
  }),
  fn({
    name: 'Guid',
    minArgs: 0,
    maxArgs: 0,
    impl: (_a, env) => {
      const bytes = Array.from({ length: 16 }, () => Math.floor(rnd(env)() * 256) & 0xff);
      bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
      bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
      const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  }),
  fn({
    name: 'RandomString',
    minArgs: 5,
    maxArgs: 6,
    impl: (a, env) => {
      const n = (i: number, what: string): number =>
        Math.max(0, toInteger(a.value(i), `RandomString ${what}`) ?? 0);
      const length = n(0, 'Length');
      const [digits, special, upper, lower] = [
        n(1, 'MinimumNumbers'),
        n(2, 'MinimumSpecialCharacters'),
        n(3, 'MinimumCapital'),
        n(4, 'MinimumLowerCase'),
      ];
      if (length > 256) throw new MappingEvaluationError('RandomString: Length must be at most 256');
      if (digits + special + upper + lower > length) {
        throw new MappingEvaluationError('RandomString: the minimums add up to more than Length');
      }
      const avoid = new Set(toText(a.value(5), 'RandomString CharactersToAvoid') ?? '');
      const clean = (pool: string): string => [...pool].filter((c) => !avoid.has(c)).join('');
      const pools = [clean(DIGITS), clean(SPECIAL), clean(UPPER), clean(LOWER)];
      const mins = [digits, special, upper, lower];
      const chars: string[] = [];
      pools.forEach((pool, k) => {
        const m = mins[k] ?? 0;
        if (m > 0 && pool === '')
          throw new MappingEvaluationError('RandomString: CharactersToAvoid empties a class');
        for (let i = 0; i < m; i++) chars.push(pick(env, pool));
      });
      const all = pools.join('');
      if (all === '' && chars.length < length)
        throw new MappingEvaluationError('RandomString: no characters left');
      while (chars.length < length) chars.push(pick(env, all));
      for (let i = chars.length - 1; i > 0; i--) {
        const j = Math.min(i, Math.floor(rnd(env)() * (i + 1)));
        [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
      }
      return chars.join('');
    },
  }),
  fn({ name: 'Redact', minArgs: 1, maxArgs: 1, impl: (a) => a.value(0) }),
  fn({
    name: 'SelectUniqueValue',
    minArgs: 2,
    maxArgs: Infinity,
    lazy: true,
    topLevelOnly: true,
    impl: (a, env) => {
      const check = env.ctx.isUniqueInTarget;
      if (!check) throw new MappingEvaluationError('SelectUniqueValue needs a lookup into the local store');
      for (let i = 0; i < a.count; i++) {
        const v = a.value(i);
        if (isNullOrEmpty(v)) continue;
        const t = toText(v, 'SelectUniqueValue rule');
        if (t !== null && t !== '' && check(env.target, t)) return t;
      }
      throw new MappingEvaluationError(`SelectUniqueValue: every candidate already exists in ${env.target}`);
    },
  }),
  fn({
    name: 'SingleAppRoleAssignment',
    minArgs: 1,
    maxArgs: 1,
    check: requireAppRoleAssignments('SingleAppRoleAssignment'),
    impl: (_a, env) => {
      const first = heldRoles(env.input)[0];
      return first ? primaryRolePart(first, env.target) : null;
    },
  }),
  ...ROLES_FUNCTIONS.map((name) =>
    fn({
      name,
      minArgs: 1,
      maxArgs: 1,
      check: requireAppRoleAssignments(name),
      impl: (_a, env) => complexRoles(env),
    }),
  ),
];
