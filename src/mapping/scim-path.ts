/**
 * SCIM target paths of the User resource supported as mapping targets, and reading/writing them.
 * Decision: attribute names and filter values are matched case-insensitively (SCIM attribute names are
 * case-insensitive) and normalised to the canonical spelling, e.g. `Emails[Type eq "Work"].Value` →
 * `emails[type eq "work"].value`.
 * App roles (docs/expressions.md, "App roles"): `roles` is the whole multi-valued list, written at once;
 * `roles[primary eq "True"].value|display|type` is one part of the primary role.
 */
import type { ScimRole, ScimUserResource, ScimValue } from './types.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const MANAGER_TARGET = `${ENTERPRISE_SCHEMA}:manager`;

export type ScimType = 'string' | 'boolean' | 'roles';

export const ROLE_SUBS = ['value', 'display', 'type'] as const;
export type RoleSub = (typeof ROLE_SUBS)[number];

export type TargetPath =
  | { kind: 'simple'; canonical: string; attr: string; type: ScimType }
  | { kind: 'complex'; canonical: string; attr: string; sub: string; type: ScimType }
  | { kind: 'multi'; canonical: string; attr: string; filterType: string; sub: string; type: ScimType }
  | { kind: 'enterprise'; canonical: string; attr: string; type: ScimType }
  /** The enterprise `manager`: `{ value: <the manager's local id> }`, a reference the planner resolves. */
  | { kind: 'manager'; canonical: string; attr: 'manager'; type: 'string' }
  | { kind: 'roles'; canonical: 'roles'; attr: 'roles'; type: 'roles' }
  | { kind: 'primaryRole'; canonical: string; attr: 'roles'; sub: RoleSub; type: 'string' };

/** The paths that write the user's app roles: only the app-role functions may feed them. */
export const isRolesPath = (p: TargetPath): p is Extract<TargetPath, { kind: 'roles' | 'primaryRole' }> =>
  p.kind === 'roles' || p.kind === 'primaryRole';

const SIMPLE = [
  'userName',
  'displayName',
  'nickName',
  'title',
  'userType',
  'preferredLanguage',
  'locale',
  'timezone',
  'profileUrl',
  'active',
  'externalId',
];
const NAME_SUBS = [
  'givenName',
  'familyName',
  'formatted',
  'middleName',
  'honorificPrefix',
  'honorificSuffix',
];
const MULTI: Record<string, { types: string[]; subs: string[] }> = {
  emails: { types: ['work', 'home', 'other'], subs: ['value'] },
  phoneNumbers: { types: ['work', 'mobile', 'fax'], subs: ['value'] },
  addresses: {
    types: ['work', 'home'],
    subs: ['streetAddress', 'locality', 'region', 'postalCode', 'country', 'formatted'],
  },
};
const ENTERPRISE = ['employeeNumber', 'costCenter', 'organization', 'division', 'department'];

const canon = (list: string[], name: string): string | undefined =>
  list.find((x) => x.toLowerCase() === name.toLowerCase());

export class TargetPathError extends Error {}

const FILTERED = /^([A-Za-z]+)\[\s*type\s+eq\s+"([^"]*)"\s*\]\.([A-Za-z]+)$/i;
const PRIMARY_ROLE = /^roles\[\s*primary\s+eq\s+"true"\s*\]\.([A-Za-z]+)$/i;
const ROLES_PATHS =
  'roles is mapped whole (roles) or by its primary role (roles[primary eq "True"].value, .display or .type)';

/**
 * Parses and validates a target path; throws TargetPathError saying what is wrong. Paths are parsed
 * once: projection reads them for every user, and a configuration has a few dozen at most.
 */
export function parseTargetPath(raw: string): TargetPath {
  let parsed = parsedPaths.get(raw);
  if (!parsed) {
    parsed = Object.freeze(parseUncached(raw));
    if (parsedPaths.size < 1000) parsedPaths.set(raw, parsed);
  }
  return parsed;
}
const parsedPaths = new Map<string, TargetPath>();

function parseUncached(raw: string): TargetPath {
  const path = raw.trim();
  if (path.toLowerCase() === 'id') {
    throw new TargetPathError('"id" is the target\'s primary key and must not be mapped');
  }
  if (path.toLowerCase().startsWith(ENTERPRISE_SCHEMA.toLowerCase() + ':')) {
    const attr = path.slice(ENTERPRISE_SCHEMA.length + 1);
    const lower = attr.toLowerCase();
    if (lower === 'manager' || lower === 'manager.value')
      return { kind: 'manager', canonical: MANAGER_TARGET, attr: 'manager', type: 'string' };
    if (lower.startsWith('manager.'))
      throw new TargetPathError('the enterprise "manager" is mapped as a whole (manager or manager.value)');
    const c = canon(ENTERPRISE, attr);
    if (!c)
      throw new TargetPathError(
        `unknown enterprise extension attribute "${attr}" (expected ${ENTERPRISE.join(', ')})`,
      );
    return { kind: 'enterprise', canonical: `${ENTERPRISE_SCHEMA}:${c}`, attr: c, type: 'string' };
  }
  if (/^roles\b/i.test(path)) return parseRolesPath(path);
  const m = FILTERED.exec(path);
  if (m) {
    const attr = canon(Object.keys(MULTI), m[1] ?? '');
    const spec = attr ? MULTI[attr] : undefined;
    if (!attr || !spec)
      throw new TargetPathError(
        `unknown multi-valued attribute "${m[1]}" (expected emails, phoneNumbers or addresses)`,
      );
    const filterType = canon(spec.types, m[2] ?? '');
    if (!filterType)
      throw new TargetPathError(`${attr} supports type "${spec.types.join('", "')}", not "${m[2]}"`);
    const sub = canon(spec.subs, m[3] ?? '');
    if (!sub)
      throw new TargetPathError(`${attr} has no sub-attribute "${m[3]}" (expected ${spec.subs.join(', ')})`);
    return {
      kind: 'multi',
      canonical: `${attr}[type eq "${filterType}"].${sub}`,
      attr,
      filterType,
      sub,
      type: 'string',
    };
  }
  const dot = path.indexOf('.');
  if (dot > 0 && !path.includes('[')) {
    const head = path.slice(0, dot);
    const sub = canon(NAME_SUBS, path.slice(dot + 1));
    if (head.toLowerCase() === 'name' && sub) {
      return { kind: 'complex', canonical: `name.${sub}`, attr: 'name', sub, type: 'string' };
    }
    if (head.toLowerCase() === 'manager')
      throw new TargetPathError(`"manager" is the enterprise extension's: ${MANAGER_TARGET}`);
  }
  const simple = canon(SIMPLE, path);
  if (simple)
    return {
      kind: 'simple',
      canonical: simple,
      attr: simple,
      type: simple === 'active' ? 'boolean' : 'string',
    };
  throw new TargetPathError(`unknown target "${raw}"`);
}

function parseRolesPath(path: string): TargetPath {
  if (path.toLowerCase() === 'roles')
    return { kind: 'roles', canonical: 'roles', attr: 'roles', type: 'roles' };
  const m = PRIMARY_ROLE.exec(path);
  if (!m) throw new TargetPathError(`unsupported target "${path}": ${ROLES_PATHS}`);
  const sub = canon([...ROLE_SUBS], m[1] ?? '') as RoleSub | undefined;
  if (!sub)
    throw new TargetPathError(
      `the primary role has no sub-attribute "${m[1]}" (expected ${ROLE_SUBS.join(', ')})`,
    );
  return {
    kind: 'primaryRole',
    canonical: `roles[primary eq "True"].${sub}`,
    attr: 'roles',
    sub,
    type: 'string',
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function findElement(list: unknown, filterType: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.find(
    (e): e is Record<string, unknown> =>
      isRecord(e) && typeof e.type === 'string' && e.type.toLowerCase() === filterType.toLowerCase(),
  );
}

/** The primary role's element: `primary` true (or "True", as a SCIM client may send it). */
function primaryRoleOf(list: unknown): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.find(
    (e): e is Record<string, unknown> =>
      isRecord(e) && (e.primary === true || String(e.primary).toLowerCase() === 'true'),
  );
}

/** The stored roles list, as far as it holds role objects; null when there is none. */
function rolesOf(v: unknown): ScimRole[] | null {
  if (!Array.isArray(v)) return null;
  const roles = v.filter((e): e is ScimRole => isRecord(e));
  return roles.length === 0 ? null : roles;
}

function asScim(v: unknown): ScimValue | null {
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

/** Reads the value at a target path; null when absent. Throws TargetPathError for an unsupported path. */
export function readPath(resource: ScimUserResource, p: TargetPath): ScimValue | null {
  switch (p.kind) {
    case 'simple':
      return asScim(resource[p.attr]);
    case 'complex': {
      const o = resource[p.attr];
      return isRecord(o) ? asScim(o[p.sub]) : null;
    }
    case 'enterprise': {
      const o = resource[ENTERPRISE_SCHEMA];
      return isRecord(o) ? asScim(o[p.attr]) : null;
    }
    case 'manager': {
      const o = resource[ENTERPRISE_SCHEMA];
      const manager = isRecord(o) ? o.manager : undefined;
      return isRecord(manager) ? asScim(manager.value) : null;
    }
    case 'multi':
      return asScim(findElement(resource[p.attr], p.filterType)?.[p.sub]);
    case 'roles':
      return rolesOf(resource.roles);
    case 'primaryRole':
      return asScim(primaryRoleOf(resource.roles)?.[p.sub]);
  }
}

/** Removes the enterprise manager (the reference went stale); the extension goes when it is empty. */
export function removeManager(resource: ScimUserResource): void {
  const o = resource[ENTERPRISE_SCHEMA];
  if (!isRecord(o)) return;
  delete o.manager;
  if (Object.keys(o).length > 0) return;
  delete resource[ENTERPRISE_SCHEMA];
  if (Array.isArray(resource.schemas))
    resource.schemas = resource.schemas.filter((x) => x !== ENTERPRISE_SCHEMA);
}

/** Writes a value at a target path, creating containers as needed. Mutates `resource` (callers clone first). */
export function writePath(resource: ScimUserResource, p: TargetPath, value: ScimValue): void {
  switch (p.kind) {
    case 'simple':
      resource[p.attr] = value;
      return;
    case 'complex':
    case 'enterprise': {
      const key = p.kind === 'complex' ? p.attr : ENTERPRISE_SCHEMA;
      const sub = p.kind === 'complex' ? p.sub : p.attr;
      const o = resource[key];
      if (isRecord(o)) o[sub] = value;
      else resource[key] = { [sub]: value };
      if (p.kind === 'enterprise') addSchema(resource, ENTERPRISE_SCHEMA);
      return;
    }
    case 'manager': {
      const o = resource[ENTERPRISE_SCHEMA];
      if (isRecord(o)) o.manager = { value };
      else resource[ENTERPRISE_SCHEMA] = { manager: { value } };
      addSchema(resource, ENTERPRISE_SCHEMA);
      return;
    }
    case 'multi': {
      let list = resource[p.attr];
      if (!Array.isArray(list)) {
        list = [];
        resource[p.attr] = list;
      }
      const el = findElement(list, p.filterType);
      if (el) el[p.sub] = value;
      else (list as unknown[]).push({ type: p.filterType, [p.sub]: value });
      return;
    }
    case 'roles':
      resource.roles = structuredClone(value);
      return;
    case 'primaryRole': {
      if (!Array.isArray(resource.roles)) resource.roles = [];
      const list = resource.roles as unknown[];
      const el = primaryRoleOf(list);
      if (el) el[p.sub] = value;
      else list.push({ primary: true, [p.sub]: value });
      return;
    }
  }
}

/**
 * Removes the value at a roles path (a role the user no longer holds): the whole list, or one part
 * of the primary role, then the primary role once nothing but `primary` is left, then an empty list.
 */
export function clearRolesPath(resource: ScimUserResource, p: TargetPath): void {
  if (p.kind === 'roles') {
    delete resource.roles;
    return;
  }
  if (p.kind !== 'primaryRole' || !Array.isArray(resource.roles)) return;
  const list = resource.roles as unknown[];
  const el = primaryRoleOf(list);
  if (!el) return;
  delete el[p.sub];
  if (Object.keys(el).every((k) => k === 'primary')) list.splice(list.indexOf(el), 1);
  if (list.length === 0) delete resource.roles;
}

export function addSchema(resource: ScimUserResource, schema: string): void {
  const s = resource.schemas;
  const list = Array.isArray(s) ? s.filter((x): x is string => typeof x === 'string') : [];
  if (!list.includes(USER_SCHEMA)) list.unshift(USER_SCHEMA);
  if (!list.includes(schema)) list.push(schema);
  resource.schemas = list;
}
