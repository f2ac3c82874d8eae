import { GraphError, RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { bearer, deltaRound, graphClient, rawGet, type Item } from './helpers.js';

let emu: RunningEmulator;
beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3, assignmentPageSize: 2 });
});
afterEach(() => emu.close());

const ctl = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${emu.url}/_ctl${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

describe('authentication and permissions', () => {
  it('401 InvalidAuthenticationToken without a token, with garbage, with an expired token', async () => {
    const none = await rawGet(emu, '/v1.0/users/delta');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({
      error: { code: 'InvalidAuthenticationToken', innerError: { 'request-id': expect.any(String) } },
    });
    expect((await rawGet(emu, '/v1.0/users/delta', { Authorization: 'Bearer abc.def.ghi' })).status).toBe(
      401,
    );
    const expired = await rawGet(emu, '/v1.0/users/delta', {
      Authorization: `Bearer ${emu.issueAccessToken({ lifetimeSeconds: -5 })}`,
    });
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({
      error: { code: 'InvalidAuthenticationToken', message: expect.stringContaining('expired') },
    });
    const other = await startTestEmulator();
    try {
      const foreign = await rawGet(emu, '/v1.0/users/delta', {
        Authorization: `Bearer ${other.issueAccessToken()}`,
      });
      expect(foreign.status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('403 Authorization_RequestDenied when the token lacks the permission for the call', async () => {
    const onlyUsers = bearer(emu, ['User.Read.All']);
    expect((await rawGet(emu, '/v1.0/users/delta', onlyUsers)).status).toBe(200);
    const denied = await rawGet(emu, '/v1.0/groups/delta', onlyUsers);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({
      error: {
        code: 'Authorization_RequestDenied',
        message: 'Insufficient privileges to complete the operation.',
      },
    });
    expect((await rawGet(emu, `/v1.0/servicePrincipals/${emu.servicePrincipalId}`, onlyUsers)).status).toBe(
      403,
    );
    const dir = bearer(emu, ['Directory.Read.All']);
    for (const p of [
      '/v1.0/users/delta',
      '/v1.0/groups/delta',
      `/v1.0/servicePrincipals/${emu.servicePrincipalId}/appRoleAssignedTo`,
    ])
      expect((await rawGet(emu, p, dir)).status).toBe(200);
    expect((await rawGet(emu, '/v1.0/organization', bearer(emu, []))).status).toBe(200);
  });

  it('permissions granted to the app flow into new tokens; the Graph client sees 403 as a GraphError', async () => {
    emu.tenant.setPermissions(['User.Read.All']);
    const client = graphClient(emu);
    await expect(client.api('/groups/delta').get()).rejects.toMatchObject({
      statusCode: 403,
      code: 'Authorization_RequestDenied',
    });
    emu.tenant.grantPermissions(['GroupMember.Read.All']);
    expect(await graphClient(emu).api('/groups/delta').get()).toMatchObject({ value: [] });
  });

  it('unknown paths are 404 in Graph error shape', async () => {
    const r = await rawGet(emu, '/v1.0/nothing/here', bearer(emu));
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: { code: 'Request_ResourceNotFound' } });
  });
});

describe('service principal and assignments', () => {
  it('finds the app by appId and by id, and pages appRoleAssignedTo with @odata.nextLink', async () => {
    const client = graphClient(emu);
    const sp = await client.api(`/servicePrincipals(appId='${emu.appId}')`).get();
    expect(sp).toMatchObject({ id: emu.servicePrincipalId, appId: emu.clientId });
    expect(await client.api(`/servicePrincipals/${emu.servicePrincipalId}`).get()).toMatchObject({
      appId: emu.appId,
    });
    await expect(
      client.api(`/servicePrincipals(appId='00000000-0000-0000-0000-000000000001')`).get(),
    ).rejects.toMatchObject({
      statusCode: 404,
    });

    const u1 = emu.tenant.createUser({ userPrincipalName: 'a@contoso.com', displayName: 'José Müller' });
    const u2 = emu.tenant.createUser({ userPrincipalName: 'b@contoso.com', displayName: 'B' });
    const g = emu.tenant.createGroup({ displayName: 'Assigned group', members: [u2.id] });
    emu.tenant.assign(u1.id, 'User');
    emu.tenant.assign(g.id, 'Group');
    emu.tenant.assign('33333333-3333-3333-3333-333333333333', 'ServicePrincipal');
    const bulk = emu.tenant.bulkCreateUsers(10, { assignEvery: 4 }); // slots 0, 4, 8 of the range
    emu.tenant.unassign(emu.tenant.userIdAt(bulk.first + 4));
    emu.tenant.softDeleteUser(emu.tenant.userIdAt(bulk.first + 8));

    const first = await client.api(`/servicePrincipals/${emu.servicePrincipalId}/appRoleAssignedTo`).get();
    expect(first.value.length).toBe(2);
    expect(first['@odata.nextLink']).toMatch(new RegExp(`^${emu.url}/v1.0/servicePrincipals/`));
    const all: Item[] = [...first.value];
    let next = first['@odata.nextLink'] as string | undefined;
    while (next) {
      const page = await client.api(next).get();
      all.push(...page.value);
      next = page['@odata.nextLink'];
    }
    expect(all.map((a) => [a.principalType, a.principalId])).toEqual([
      ['User', u1.id],
      ['Group', g.id],
      ['ServicePrincipal', '33333333-3333-3333-3333-333333333333'],
      ['User', emu.tenant.userIdAt(bulk.first)],
    ]);
    expect(all[0]).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      deletedDateTime: null,
      appRoleId: '00000000-0000-0000-0000-000000000000',
      createdDateTime: expect.any(String),
      principalDisplayName: 'José Müller',
      principalId: u1.id,
      principalType: 'User',
      resourceDisplayName: 'entrasync',
      resourceId: emu.servicePrincipalId,
    });
  });

  it('appRoleAssignedTo honours $select on every page, and still lists only active principals', async () => {
    const client = graphClient(emu);
    const bulk = emu.tenant.bulkCreateUsers(6, { assignEvery: 1 });
    emu.tenant.softDeleteUser(emu.tenant.userIdAt(bulk.first + 2));
    let next: string | undefined =
      `/servicePrincipals/${emu.servicePrincipalId}/appRoleAssignedTo?$select=principalId,principalType`;
    const all: Item[] = [];
    while (next) {
      const page = await client.api(next).get();
      all.push(...page.value);
      next = page['@odata.nextLink'];
      if (next) expect(next).toContain('$select=principalId,principalType');
    }
    const expected = [0, 1, 3, 4, 5].map((i) => ({
      principalId: emu.tenant.userIdAt(bulk.first + i),
      principalType: 'User',
    }));
    expect(all).toEqual(expected);
    const bad = await rawGet(
      emu,
      `/v1.0/servicePrincipals/${emu.servicePrincipalId}/appRoleAssignedTo?$select=principal-id`,
      bearer(emu),
    );
    expect(bad.status).toBe(400);
  });

  it('organization lists the tenant with a default verified domain', async () => {
    const r = await graphClient(emu).api('/organization').get();
    expect(r.value[0]).toMatchObject({
      id: emu.tenantId,
      verifiedDomains: [{ name: emu.domain, isDefault: true }],
    });
  });
});

describe('faults', () => {
  it('429 with Retry-After: the Graph RetryHandler waits and succeeds', async () => {
    emu.tenant.createUser({ userPrincipalName: 'a@contoso.com' });
    const client = graphClient(emu);
    await client.api('/organization').get(); // get the token first
    emu.tenant.setFaults({ throttle: { count: 2, retryAfter: 1 } });
    emu.tenant.clearRequests();
    const t0 = Date.now();
    const r = await deltaRound(client, '/users/delta');
    expect(r.items.length).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(emu.tenant.requests().map((q) => q.status)).toEqual([429, 429, 200]);
    const raw = await (async () => {
      emu.tenant.setFaults({ throttle: { count: 1, retryAfter: 7 } });
      return rawGet(emu, '/v1.0/users/delta', bearer(emu));
    })();
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBe('7');
    expect(raw.body).toMatchObject({ error: { code: 'TooManyRequests' } });
  });

  it('every Kth request throttled with 503, and 504 without Retry-After', async () => {
    emu.tenant.setFaults({ throttle: { every: 2, status: 503 } });
    const h = bearer(emu);
    const statuses = [];
    for (let k = 0; k < 4; k++) statuses.push((await rawGet(emu, '/v1.0/organization', h)).status);
    expect(statuses).toEqual([200, 503, 200, 503]);
    emu.tenant.setFaults({ throttle: { count: 1, status: 504, retryAfter: null } });
    const r = await rawGet(emu, '/v1.0/organization', h);
    expect(r.status).toBe(504);
    expect(r.headers.get('retry-after')).toBeNull();
  });

  it('persistent 429: the client gives up after its retries with a GraphError', async () => {
    const client = graphClient(emu);
    await client.api('/organization').get();
    emu.tenant.setFaults({ throttle: { retryAfter: 0 } });
    const err = await client
      .api('/organization')
      .middlewareOptions([new RetryHandlerOptions(0, 1)])
      .get()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphError);
    expect(err).toMatchObject({ statusCode: 429 });
  });

  it('connection resets, malformed pages and latency', async () => {
    const h = bearer(emu);
    emu.tenant.setFaults({ resetConnections: { count: 1 } });
    await expect(fetch(`${emu.url}/v1.0/organization`, { headers: h })).rejects.toThrow();
    expect((await rawGet(emu, '/v1.0/organization', h)).status).toBe(200);
    emu.tenant.setFaults({ malformedPage: { count: 1, pathPrefix: '/v1.0/users' } });
    const bad = await fetch(`${emu.url}/v1.0/users/delta`, { headers: h });
    expect(bad.status).toBe(200);
    await expect(bad.json()).rejects.toThrow();
    emu.tenant.setFaults({ latencyMs: 300 });
    const t0 = Date.now();
    await rawGet(emu, '/v1.0/organization', h);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(emu.tenant.requests().some((r) => r.status === 0)).toBe(true); // the reset one
  });
});

describe('control API over HTTP', () => {
  it('drives the tenant through /_ctl and logs every request', async () => {
    const u = await ctl('POST', '/users', {
      userPrincipalName: 'x@contoso.com',
      displayName: 'X',
      mail: null,
    });
    expect(u.status).toBe(201);
    const id = u.body.id as string;
    expect(u.body).toMatchObject({ accountEnabled: true, mail: null });
    expect((await ctl('PATCH', `/users/${id}`, { jobTitle: 'Dev' })).body).toMatchObject({ jobTitle: 'Dev' });
    const g = await ctl('POST', '/groups', { displayName: 'G' });
    const gid = g.body.id as string;
    expect((await ctl('POST', `/groups/${gid}/members/${id}`)).status).toBe(200);
    expect((await ctl('POST', '/assignments', { principalId: gid, principalType: 'Group' })).status).toBe(
      201,
    );
    expect((await ctl('POST', '/bulk', { users: 5, assignEvery: 2 })).body).toEqual({ first: 1, count: 5 });
    expect((await ctl('POST', `/users/${id}/softDelete`)).status).toBe(200);
    expect((await ctl('POST', `/users/${id}/restore`)).status).toBe(200);
    expect((await ctl('DELETE', `/groups/${gid}/members/${id}`)).status).toBe(200);
    expect((await ctl('DELETE', `/assignments/${gid}`)).status).toBe(200);
    expect((await ctl('POST', `/users/${id}/hardDelete`)).status).toBe(200);
    expect((await ctl('POST', `/users/${id}/restore`)).status).toBe(404);
    expect((await ctl('POST', '/faults', { throttle: { count: 1 } })).status).toBe(200);
    expect((await rawGet(emu, '/v1.0/organization', bearer(emu))).status).toBe(429);
    expect((await ctl('POST', '/deltaTokens/reset')).status).toBe(200);
    expect((await ctl('POST', '/deltaTokens/expire')).status).toBe(200);
    const log = await fetch(`${emu.url}/_ctl/requests`).then(
      (r) => r.json() as Promise<{ method: string; path: string; status: number }[]>,
    );
    expect(log[0]).toEqual({ method: 'POST', path: '/_ctl/users', status: 201 });
    expect(log).toContainEqual({ method: 'GET', path: '/v1.0/organization', status: 429 });
    expect((await ctl('DELETE', '/requests')).status).toBe(200);
    const info = await ctl('GET', '/info');
    expect(info.body).toMatchObject({ url: emu.url, tenantId: emu.tenantId, clientId: emu.clientId });
  });
});
