import type { PrincipalType } from './assignments.js';
import type { TenantControl } from './control.js';
import { badRequest, graphError } from './errors.js';
import type { FaultSpec } from './faults.js';
import type { AppRoleDefinition } from './identity.js';
import { readJson, sendJson, type Ctx } from './http.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

const str = (body: Record<string, unknown>, key: string): string => {
  const v = body[key];
  if (typeof v !== 'string' || !v) throw badRequest(`'${key}' (string) is required.`);
  return v;
};

/** /_ctl: the control object over HTTP for out-of-process clients. Loopback only, no auth. */
export async function handleControl(
  ctx: Ctx,
  control: TenantControl,
  info: () => Record<string, unknown>,
): Promise<void> {
  if (!LOOPBACK.has(ctx.req.socket.remoteAddress ?? ''))
    throw graphError(403, 'Forbidden', '/_ctl is loopback-only.');
  const method = ctx.req.method ?? 'GET';
  const p = ctx.path.slice('/_ctl'.length).replace(/\/$/, '');
  const ok = (body: unknown, status = 200) => sendJson(ctx, status, body ?? {});
  const body = method === 'POST' || method === 'PATCH' || method === 'PUT' ? await readJson(ctx.req) : {};
  const route = `${method} ${p}`;
  let m: RegExpExecArray | null;

  if (route === 'GET /info') return ok(info());
  if (route === 'POST /users') return ok(control.createUser(body as never), 201);
  if ((m = /^(GET|PATCH) \/users\/([^/]+)$/.exec(route))) {
    if (m[1] === 'PATCH') return ok(control.updateUser(m[2]!, body));
    const u = control.getUser(m[2]!);
    if (!u) throw graphError(404, 'Request_ResourceNotFound', `User '${m[2]}' not found.`);
    return ok(u);
  }
  if ((m = /^POST \/users\/([^/]+)\/(softDelete|restore|hardDelete)$/.exec(route))) {
    const id = m[1]!;
    if (m[2] === 'softDelete') control.softDeleteUser(id);
    else if (m[2] === 'restore') return ok(control.restoreUser(id));
    else control.hardDeleteUser(id);
    return ok({});
  }
  if (route === 'POST /groups') return ok(control.createGroup(body as never), 201);
  if ((m = /^(GET|PATCH|DELETE) \/groups\/([^/]+)$/.exec(route))) {
    if (m[1] === 'PATCH') return ok(control.updateGroup(m[2]!, body));
    if (m[1] === 'DELETE') return ok(control.deleteGroup(m[2]!));
    const g = control.getGroup(m[2]!);
    if (!g) throw graphError(404, 'Request_ResourceNotFound', `Group '${m[2]}' not found.`);
    return ok(g);
  }
  if ((m = /^(POST|DELETE) \/groups\/([^/]+)\/members\/([^/]+)$/.exec(route))) {
    if (m[1] === 'POST') control.addMember(m[2]!, m[3]!);
    else control.removeMember(m[2]!, m[3]!);
    return ok({});
  }
  if (route === 'POST /assignments') {
    const type = str(body, 'principalType') as PrincipalType;
    const role = typeof body.appRoleId === 'string' ? body.appRoleId : undefined;
    return ok(control.assign(str(body, 'principalId'), type, role), 201);
  }
  if ((m = /^DELETE \/assignments\/([^/]+)(?:\/([^/]+))?$/.exec(route)))
    return ok(control.unassign(m[1]!, m[2]));
  if ((m = /^(GET|PUT|DELETE) \/users\/([^/]+)\/manager$/.exec(route))) {
    if (m[1] === 'GET') {
      const u = control.getManager(m[2]!);
      if (!u) throw graphError(404, 'Request_ResourceNotFound', `User '${m[2]}' has no manager.`);
      return ok(u);
    }
    const managerId = m[1] === 'DELETE' ? null : body.managerId;
    if (managerId !== null && (typeof managerId !== 'string' || !managerId))
      throw badRequest("'managerId' (string or null) is required.");
    return ok(control.setManager(m[2]!, managerId));
  }
  if (route === 'POST /bulk') {
    const n = Number(body.users);
    const opts: { assignEvery?: number; prefix?: string } = {};
    if (body.assignEvery !== undefined) opts.assignEvery = Number(body.assignEvery);
    if (typeof body.prefix === 'string') opts.prefix = body.prefix;
    return ok(control.bulkCreateUsers(n, opts), 201);
  }
  if (route === 'POST /bulkGroups') {
    const spec = {
      first: Number(body.first),
      users: Number(body.users),
      groups: Number(body.groups),
      largest: Number(body.largest),
      assign: body.assign === true,
    };
    return ok(control.bulkCreateGroups(spec), 201);
  }
  if (route === 'POST /faults') return ok(control.setFaults(body as FaultSpec));
  if (route === 'DELETE /faults') return ok(control.clearFaults());
  if (route === 'POST /deltaTokens/expire') return ok(control.expireDeltaTokens());
  if (route === 'POST /deltaTokens/reset') return ok(control.resetDeltaTokens());
  if (route === 'POST /tokens/revoke') return ok(control.revokeTokens());
  if (route === 'POST /permissions') {
    const roles = body.roles;
    if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string'))
      throw badRequest("'roles' (string[]) is required.");
    return ok(body.mode === 'grant' ? control.grantPermissions(roles) : control.setPermissions(roles));
  }
  if (route === 'POST /appRoles') {
    if (!Array.isArray(body.appRoles)) throw badRequest("'appRoles' (array) is required.");
    return ok(control.setAppRoles(body.appRoles as AppRoleDefinition[]));
  }
  if (route === 'POST /certificates')
    return ok({ thumbprintSha256: control.registerCertificate(str(body, 'pem')) }, 201);
  if (route === 'POST /federatedIssuers') {
    const f = {
      issuer: str(body, 'issuer'),
      subject: str(body, 'subject'),
      publicKeyPem: str(body, 'publicKeyPem'),
    };
    return ok(
      control.registerFederatedIssuer(
        typeof body.audience === 'string' ? { ...f, audience: body.audience } : f,
      ),
      201,
    );
  }
  if (route === 'GET /requests') return ok(control.requests());
  if (route === 'DELETE /requests') return ok(control.clearRequests());
  throw graphError(404, 'Request_ResourceNotFound', `No control operation '${route}'.`);
}
