import type { AssignmentRecord } from './assignments.js';
import type { DeltaResult, DeltaSettings } from './delta-common.js';
import { badRequest, graphError, notFound } from './errors.js';
import { groupsDelta } from './groups-delta.js';
import { GRAPH_JSON, readJson, sendJson, type Ctx } from './http.js';
import { DEFAULT_USER_SELECT, usersDelta } from './users-delta.js';
import { parseSelect } from './delta-common.js';
import { UserState } from './users.js';

const DIRECTORY = ['Directory.Read.All', 'Directory.ReadWrite.All'];
const NEEDS = {
  users: ['User.Read.All', 'User.ReadWrite.All', ...DIRECTORY],
  groups: ['GroupMember.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', ...DIRECTORY],
  servicePrincipals: ['Application.Read.All', 'Application.ReadWrite.All', ...DIRECTORY],
  userWrites: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
  any: [] as string[],
};

function requirePermission(roles: string[], need: keyof typeof NEEDS): void {
  const allowed = NEEDS[need];
  if (allowed.length && !roles.some((r) => allowed.includes(r)))
    throw graphError(
      403,
      'Authorization_RequestDenied',
      'Insufficient privileges to complete the operation.',
    );
}

function send(ctx: Ctx, body: unknown, headers: Record<string, string> = {}): void {
  sendJson(ctx, 200, body, { 'x-ms-resource-unit': '1', ...headers }, GRAPH_JSON);
}

function sendDelta(ctx: Ctx, r: DeltaResult): void {
  send(ctx, r.body, r.minimalApplied ? { 'Preference-Applied': 'return=minimal' } : {});
}

/** Graph v1.0. The bearer token is checked before anything else, as Graph does. */
export function handleGraph(ctx: Ctx): void | Promise<void> {
  const { core, req } = ctx;
  const claims = core.identity.verifyAccessToken(req.headers.authorization, core.faults.rejectTokens);
  const manager = /^\/v1\.0\/users\/([^/]+)\/manager(\/\$ref)?\/?$/.exec(ctx.path);
  if (manager) return managerRoute(ctx, claims.roles, decodeURIComponent(manager[1]!), !!manager[2]);
  if (req.method !== 'GET')
    throw graphError(405, 'Request_BadRequest', `The HTTP method '${req.method}' is not allowed.`);
  const path = ctx.path.slice('/v1.0'.length).replace(/\/$/, '');
  const q = ctx.url.searchParams;
  const dir = core.directory;
  const minimal = /(^|[,;\s])return=minimal\b/i.test(String(req.headers.prefer ?? ''));
  const settings: DeltaSettings = {
    origin: core.origin,
    tokens: core.tokens,
    pageSize: core.pageSize,
    memberPageSize: core.memberPageSize,
    duplicates: core.faults.duplicates,
  };
  const roles = claims.roles;

  if (path === '/users/delta' || path === '/users/microsoft.graph.delta') {
    requirePermission(roles, 'users');
    return sendDelta(ctx, usersDelta(dir, q, minimal, settings));
  }
  if (path === '/groups/delta' || path === '/groups/microsoft.graph.delta') {
    requirePermission(roles, 'groups');
    return sendDelta(ctx, withMalformedMember(ctx, groupsDelta(dir, q, minimal, settings)));
  }
  if (path === '/organization') return send(ctx, organization(ctx));

  let m = /^\/users\/([^/]+)\/(memberOf|transitiveMemberOf)(\/microsoft\.graph\.group)?$/.exec(path);
  if (m) {
    requirePermission(roles, 'groups');
    return send(ctx, memberOf(ctx, decodeURIComponent(m[1]!), m[2] === 'transitiveMemberOf'));
  }
  m = /^\/users\/([^/]+)$/.exec(path);
  if (m) {
    requirePermission(roles, 'users');
    const key = decodeURIComponent(m[1]!);
    const i = key.includes('@') ? dir.users.indexOfUpn(key) : dir.users.indexOf(key);
    if (i === undefined || dir.users.state(i) !== UserState.Active) throw notFound(key);
    const sel = parseSelect(q);
    return send(ctx, {
      '@odata.context': `${core.origin}/v1.0/$metadata#users${sel ? `(${sel.join(',')})` : ''}/$entity`,
      ...userView(dir.users.props(i), sel),
    });
  }
  m = /^\/directory\/deletedItems\/(.+)$/.exec(path);
  if (m) {
    requirePermission(roles, 'users');
    return send(ctx, deletedItems(ctx, m[1]!));
  }
  m = /^\/servicePrincipals(?:\(appId='([^']*)'\)|\/([^/(]+))(\/appRoleAssignedTo)?$/.exec(path);
  if (m) {
    requirePermission(roles, 'servicePrincipals');
    const id = core.identity;
    const found =
      m[1] !== undefined ? m[1].toLowerCase() === id.clientId : m[2]!.toLowerCase() === id.servicePrincipalId;
    if (!found) throw notFound(m[1] ?? m[2]!);
    if (m[3]) return send(ctx, withMalformedAssignment(ctx, appRoleAssignedTo(ctx)));
    return send(ctx, servicePrincipal(ctx));
  }
  throw graphError(
    404,
    'Request_ResourceNotFound',
    `Resource not found for the segment '${path.split('/')[1] ?? ''}'.`,
  );
}

/**
 * GET /users/{id}/manager (404 when there is none, as Graph answers), and the reference itself:
 * PUT …/manager/$ref {"@odata.id": "…/users/{managerId}"} and DELETE …/manager/$ref, both 204.
 */
async function managerRoute(ctx: Ctx, roles: string[], key: string, ref: boolean): Promise<void> {
  const dir = ctx.core.directory;
  const method = ctx.req.method ?? 'GET';
  const i = key.includes('@') ? dir.users.indexOfUpn(key) : dir.users.indexOf(key);
  if (i === undefined || dir.users.state(i) !== UserState.Active) throw notFound(key);
  const userId = dir.users.idAt(i);
  if (method === 'GET') {
    requirePermission(roles, 'users');
    const m = dir.managerOf(i);
    if (m === null) throw notFound('manager');
    const origin = ctx.core.origin;
    if (ref)
      return send(ctx, {
        '@odata.context': `${origin}/v1.0/$metadata#directoryObjects/$ref`,
        '@odata.id': `${origin}/v1.0/directoryObjects/${m}/Microsoft.DirectoryServices.User`,
      });
    const sel = parseSelect(ctx.url.searchParams);
    return send(ctx, {
      '@odata.context': `${origin}/v1.0/$metadata#directoryObjects/$entity`,
      '@odata.type': '#microsoft.graph.user',
      ...userView(dir.users.props(dir.users.indexOf(m)!), sel),
    });
  }
  if (!ref || (method !== 'PUT' && method !== 'DELETE'))
    throw graphError(405, 'Request_BadRequest', `The HTTP method '${method}' is not allowed.`);
  requirePermission(roles, 'userWrites');
  if (method === 'DELETE') {
    if (dir.managerOf(i) === null) throw notFound('manager');
    dir.setManager(userId, null);
  } else {
    const target = (await readJson(ctx.req))['@odata.id'];
    const id =
      typeof target === 'string' ? /\/(?:users|directoryObjects)\/([^/?]+)$/.exec(target)?.[1] : undefined;
    if (!id) throw badRequest('Invalid URL format specified in @odata.id.', 'Request_BadRequest');
    dir.setManager(userId, decodeURIComponent(id));
  }
  ctx.res.writeHead(204);
  ctx.res.end();
}

/** The malformedElement fault: a bad member in the listed group's members@delta. */
function withMalformedMember(ctx: Ctx, r: DeltaResult): DeltaResult {
  const fault = ctx.core.faults.malformedElement?.memberOf;
  if (!fault) return r;
  for (const item of r.body.value as Record<string, unknown>[]) {
    if (String(item.id).toLowerCase() !== fault.groupId.toLowerCase() || item['@removed']) continue;
    const members = Array.isArray(item['members@delta']) ? (item['members@delta'] as unknown[]) : [];
    item['members@delta'] = [...members, fault.member];
  }
  return r;
}

/** The malformedElement fault: a bad assignment on the listing's first page. */
function withMalformedAssignment(ctx: Ctx, body: Record<string, unknown>): Record<string, unknown> {
  const bad = ctx.core.faults.malformedElement?.assignment;
  if (bad === undefined || ctx.url.searchParams.has('$skiptoken')) return body;
  return { ...body, value: [bad, ...(body.value as unknown[])] };
}

/** GET /users/{id} returns every selected property, null when unset (unlike delta, which omits it). */
function userView(props: Record<string, unknown>, sel: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of sel ?? DEFAULT_USER_SELECT)
    if (n !== 'id') out[n] = props[n] ?? (n === 'businessPhones' ? [] : null);
  out.id = props.id;
  return out;
}

/**
 * GET /users/{id}/memberOf and /transitiveMemberOf: the user's groups (only groups exist in the
 * emulator), all on one page.
 */
function memberOf(ctx: Ctx, key: string, transitive: boolean): Record<string, unknown> {
  const dir = ctx.core.directory;
  const i = key.includes('@') ? dir.users.indexOfUpn(key) : dir.users.indexOf(key);
  if (i === undefined || dir.users.state(i) !== UserState.Active) throw notFound(key);
  const id = dir.users.idAt(i);
  const groups = transitive ? dir.transitiveGroupsOf(id) : dir.groupsOf(id);
  const sel = parseSelect(ctx.url.searchParams);
  return {
    '@odata.context': `${ctx.core.origin}/v1.0/$metadata#directoryObjects`,
    value: groups.map((g) => {
      const all: Record<string, unknown> = { '@odata.type': '#microsoft.graph.group', id: g.id, ...g.props };
      if (!sel) return all;
      const out: Record<string, unknown> = { '@odata.type': '#microsoft.graph.group' };
      for (const n of sel) out[n] = all[n] ?? null;
      out.id = g.id;
      return out;
    }),
  };
}

function deletedItems(ctx: Ctx, rest: string): Record<string, unknown> {
  const { core } = ctx;
  const users = core.directory.users;
  if (rest === 'microsoft.graph.user') {
    const value = [...users.deletedDateTime].map(([i, when]) => ({
      '@odata.type': '#microsoft.graph.user',
      ...userView(users.props(i), undefined),
      deletedDateTime: when,
    }));
    return { '@odata.context': `${core.origin}/v1.0/$metadata#directoryObjects/microsoft.graph.user`, value };
  }
  const i = users.indexOf(rest);
  if (i === undefined || users.state(i) !== UserState.SoftDeleted) throw notFound(rest);
  return {
    '@odata.context': `${core.origin}/v1.0/$metadata#directoryObjects/$entity`,
    '@odata.type': '#microsoft.graph.user',
    ...userView(users.props(i), parseSelect(ctx.url.searchParams)),
    deletedDateTime: users.deletedDateTime.get(i),
  };
}

function organization(ctx: Ctx): Record<string, unknown> {
  const id = ctx.core.identity;
  return {
    '@odata.context': `${ctx.core.origin}/v1.0/$metadata#organization`,
    value: [
      {
        id: id.tenantId,
        displayName: 'Contoso (entrasync emulator)',
        tenantType: 'AAD',
        countryLetterCode: 'US',
        preferredLanguage: 'en',
        verifiedDomains: [
          {
            capabilities: 'Email, OfficeCommunicationsOnline',
            isDefault: true,
            isInitial: true,
            name: id.domain,
            type: 'Managed',
          },
        ],
      },
    ],
  };
}

function servicePrincipal(ctx: Ctx): Record<string, unknown> {
  const id = ctx.core.identity;
  return {
    '@odata.context': `${ctx.core.origin}/v1.0/$metadata#servicePrincipals/$entity`,
    id: id.servicePrincipalId,
    appId: id.clientId,
    appDisplayName: id.appDisplayName,
    displayName: id.appDisplayName,
    accountEnabled: true,
    appRoleAssignmentRequired: true,
    servicePrincipalType: 'Application',
    signInAudience: 'AzureADMyOrg',
    appOwnerOrganizationId: id.tenantId,
    servicePrincipalNames: [id.clientId],
    appRoles: id.appRoles,
    tags: ['WindowsAzureActiveDirectoryIntegratedApp'],
  };
}

/**
 * Assignments in a stable order: explicit ones, then the implicit ones of bulk ranges. The cursor
 * is a position (explicit index, or a user slot), so paging costs nothing per outstanding link.
 */
function appRoleAssignedTo(ctx: Ctx): Record<string, unknown> {
  const { core } = ctx;
  const dir = core.directory;
  const q = ctx.url.searchParams;
  const skip = q.get('$skiptoken');
  const st = skip !== null ? core.tokens.decode(skip, 'assignments', core.origin) : undefined;
  const top = q.has('$top') ? Number(q.get('$top')) : (st?.o ?? core.assignmentPageSize);
  if (!Number.isInteger(top) || top < 1 || top > 999)
    throw badRequest("Invalid value for '$top'; it must be 1-999.");
  let phase = st?.k === 'n' ? 1 : 0;
  let c = st?.c ?? 0;
  const page: Record<string, unknown>[] = [];
  // $select returns only the named properties, and only those are computed: a listing of a million
  // assignments, re-read every cycle, is then small on the wire and cheap to serve.
  const selected = parseSelect(q);
  const wants = (name: string) => selected === undefined || selected.includes(name);
  const item = (a: AssignmentRecord): void => {
    const out: Record<string, unknown> = {};
    if (wants('id')) out.id = a.id;
    if (wants('deletedDateTime')) out.deletedDateTime = null;
    if (wants('appRoleId')) out.appRoleId = a.appRoleId;
    if (wants('createdDateTime')) out.createdDateTime = a.createdDateTime;
    if (wants('principalDisplayName')) out.principalDisplayName = dir.principalName(a);
    if (wants('principalId')) out.principalId = a.principalId;
    if (wants('principalType')) out.principalType = a.principalType;
    if (wants('resourceDisplayName')) out.resourceDisplayName = core.identity.appDisplayName;
    if (wants('resourceId')) out.resourceId = core.identity.servicePrincipalId;
    page.push(out);
  };
  if (phase === 0) {
    const explicit = [...dir.assignments.explicit.values()];
    for (; c < explicit.length && page.length < top; c++)
      if (dir.isActivePrincipal(explicit[c]!)) item(explicit[c]!);
    if (c >= explicit.length) {
      phase = 1;
      c = 0;
    }
  }
  if (phase === 1) {
    const ranges = dir.users.ranges.filter((r) => r.assignEvery > 0);
    for (const r of ranges) {
      if (page.length >= top) break;
      if (c >= r.first + r.count) continue;
      let i = Math.max(c, r.first);
      i += (r.assignEvery - ((i - r.first) % r.assignEvery)) % r.assignEvery;
      for (; i < r.first + r.count && page.length < top; i += r.assignEvery)
        // A bulk user's slot is its index: its state is read directly, not looked up by id.
        if (!dir.assignments.virtualOff.has(i) && dir.users.state(i) === UserState.Active)
          item(dir.virtualAssignment(i));
      c = i;
    }
    if (page.length < top || !ranges.some((r) => c < r.first + r.count)) c = -1;
  }
  const body: Record<string, unknown> = {
    '@odata.context': `${core.origin}/v1.0/$metadata#servicePrincipals('${core.identity.servicePrincipalId}')/appRoleAssignedTo`,
  };
  if (c !== -1) {
    const token = core.tokens.encode({ r: 'assignments', k: phase === 1 ? 'n' : 'i', s: 0, e: 0, c, o: top });
    body['@odata.nextLink'] =
      `${core.origin}/v1.0/servicePrincipals/${core.identity.servicePrincipalId}/appRoleAssignedTo?$skiptoken=${token}` +
      (selected ? `&$select=${selected.join(',')}` : '');
  }
  body.value = page;
  return body;
}
