/**
 * Managers in the emulator, over HTTPS through msal-node and the Graph client (and raw fetch where
 * the exact wire shape matters): users/delta with $select=manager reports manager@delta, a manager
 * change is a change of that user in the next round, GET /users/{id}/manager 404s without one.
 */
import { GraphError } from '@microsoft/microsoft-graph-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { bearer, deltaRound, graphClient, rawGet, rawRound, type Item } from './helpers.js';

let emu: RunningEmulator;
beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
});
afterEach(() => emu.close());

const SELECT = 'displayName,manager';
const ref = (id: string) => ({ '@odata.type': '#microsoft.graph.user', id });
const gone = (id: string) => ({ ...ref(id), '@removed': { reason: 'deleted' } });
const MINIMAL = { Prefer: 'return=minimal' };

function mkUsers(n: number) {
  return Array.from({ length: n }, (_, k) =>
    emu.tenant.createUser({ userPrincipalName: `m${k}@contoso.com`, displayName: `User ${k}` }),
  );
}

/** The next round from `deltaLink`, raw: exact items, and the link after it. */
async function next(deltaLink: string, headers: Record<string, string> = MINIMAL) {
  const r = await rawRound(emu, deltaLink.slice(emu.url.length), headers);
  return { items: r.items, deltaLink: r.deltaLink };
}

const ctl = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${emu.url}/_ctl${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

describe('manager@delta in users/delta', () => {
  it('the initial round with $select=manager carries each manager as manager@delta; no manager, no annotation', async () => {
    const [boss, a, b, c] = mkUsers(4);
    emu.tenant.setManager(a!.id, boss!.id);
    emu.tenant.setManager(b!.id, boss!.id);
    emu.tenant.setManager(boss!.id, c!.id);
    const { items } = await deltaRound(graphClient(emu), '/users/delta', { select: SELECT });
    const byId = new Map(items.map((i) => [i.id, i]));
    expect(byId.get(a!.id)).toEqual({ displayName: 'User 1', id: a!.id, 'manager@delta': [ref(boss!.id)] });
    expect(byId.get(b!.id)!['manager@delta']).toEqual([ref(boss!.id)]);
    expect(byId.get(boss!.id)!['manager@delta']).toEqual([ref(c!.id)]);
    expect(byId.get(c!.id)).toEqual({ displayName: 'User 3', id: c!.id });
    const raw = await rawRound(emu, `/v1.0/users/delta?$select=${SELECT}`);
    expect(raw.pages[0]!['@odata.context']).toBe(`${emu.url}/v1.0/$metadata#users(${SELECT})`);
  });

  it('set, change and remove: each next round (return=minimal) reports exactly that user with the change', async () => {
    const [boss, other, a, bystander] = mkUsers(4);
    let { deltaLink } = await deltaRound(graphClient(emu), '/users/delta', { select: SELECT });

    emu.tenant.setManager(a!.id, boss!.id);
    let r = await next(deltaLink);
    expect(r.items).toEqual([{ id: a!.id, 'manager@delta': [ref(boss!.id)] }]);

    emu.tenant.setManager(a!.id, other!.id);
    r = await next(r.deltaLink);
    expect(r.items).toEqual([{ id: a!.id, 'manager@delta': [gone(boss!.id), ref(other!.id)] }]);

    emu.tenant.setManager(a!.id, null);
    r = await next(r.deltaLink);
    expect(r.items).toEqual([{ id: a!.id, 'manager@delta': [gone(other!.id)] }]);

    // Setting the manager a user already has is no change; nothing else changed either.
    emu.tenant.setManager(bystander!.id, boss!.id);
    r = await next(r.deltaLink);
    emu.tenant.setManager(bystander!.id, boss!.id);
    deltaLink = r.deltaLink;
    r = await next(deltaLink);
    expect(r.items).toEqual([]);
  });

  it('without return=minimal a changed user comes with every selected property and its current manager', async () => {
    const [boss, a, b] = mkUsers(3);
    emu.tenant.setManager(b!.id, boss!.id);
    const { deltaLink } = await deltaRound(graphClient(emu), '/users/delta', { select: SELECT });
    emu.tenant.setManager(a!.id, boss!.id);
    emu.tenant.updateUser(b!.id, { displayName: 'Renamed' });
    const r = await next(deltaLink, {});
    const byId = new Map(r.items.map((i) => [i.id, i]));
    expect(r.items.length).toBe(2);
    expect(byId.get(a!.id)).toEqual({ displayName: 'User 1', id: a!.id, 'manager@delta': [ref(boss!.id)] });
    // b's manager did not change: the default mode repeats it (old value if unchanged).
    expect(byId.get(b!.id)).toEqual({ displayName: 'Renamed', id: b!.id, 'manager@delta': [ref(boss!.id)] });
    // Under return=minimal, b's unchanged manager would be left out.
    emu.tenant.updateUser(b!.id, { displayName: 'Again' });
    const m = await next(r.deltaLink);
    expect(m.items).toEqual([{ displayName: 'Again', id: b!.id }]);
  });

  it('$select without manager shows nothing about managers, and a manager change is no change', async () => {
    const [boss, a] = mkUsers(2);
    emu.tenant.setManager(a!.id, boss!.id);
    const initial = await rawRound(emu, '/v1.0/users/delta?$select=displayName');
    expect(initial.items.find((i) => i.id === a!.id)).toEqual({ displayName: 'User 1', id: a!.id });
    const dflt = await rawRound(emu, '/v1.0/users/delta');
    expect(dflt.items.some((i) => 'manager@delta' in i || 'manager' in i)).toBe(false);
    emu.tenant.setManager(a!.id, null);
    expect((await next(initial.deltaLink)).items).toEqual([]);
    expect((await next(dflt.deltaLink, {})).items).toEqual([]);
  });

  it('a manager who is soft-deleted goes away from the reports (and comes back on restore); hard-deleted, for good', async () => {
    const [boss, a, b] = mkUsers(3);
    emu.tenant.setManager(a!.id, boss!.id);
    emu.tenant.setManager(b!.id, boss!.id);
    const { deltaLink } = await deltaRound(graphClient(emu), '/users/delta', { select: SELECT });

    emu.tenant.softDeleteUser(boss!.id);
    let r = await next(deltaLink);
    const sorted = (items: Item[]) => [...items].sort((x, y) => x.id.localeCompare(y.id));
    expect(sorted(r.items)).toEqual(
      sorted([
        { id: boss!.id, '@removed': { reason: 'changed' } },
        { id: a!.id, 'manager@delta': [gone(boss!.id)] },
        { id: b!.id, 'manager@delta': [gone(boss!.id)] },
      ]),
    );
    expect(emu.tenant.getManager(a!.id)).toBeUndefined();

    emu.tenant.restoreUser(boss!.id);
    r = await next(r.deltaLink);
    const back = new Map(r.items.map((i) => [i.id, i]));
    expect(back.get(a!.id)).toEqual({ id: a!.id, 'manager@delta': [ref(boss!.id)] });
    expect(back.get(b!.id)).toEqual({ id: b!.id, 'manager@delta': [ref(boss!.id)] });
    expect(back.get(boss!.id)).toMatchObject({ displayName: 'User 0', id: boss!.id });
    expect(emu.tenant.getManager(a!.id)!.id).toBe(boss!.id);

    emu.tenant.hardDeleteUser(boss!.id);
    r = await next(r.deltaLink);
    expect(new Map(r.items.map((i) => [i.id, i])).get(a!.id)).toEqual({
      id: a!.id,
      'manager@delta': [gone(boss!.id)],
    });
    // A soft-deleted report keeps its link; restored, it comes back with its manager.
    emu.tenant.setManager(a!.id, b!.id);
    emu.tenant.softDeleteUser(a!.id);
    r = await next(r.deltaLink);
    emu.tenant.restoreUser(a!.id);
    r = await next(r.deltaLink);
    expect(r.items).toEqual([{ displayName: 'User 1', id: a!.id, 'manager@delta': [ref(b!.id)] }]);
  });
});

describe('GET /users/{id}/manager and the $ref', () => {
  it('404 Request_ResourceNotFound without a manager; the manager user once set', async () => {
    const [boss, a] = mkUsers(2);
    const client = graphClient(emu);
    const err = await client
      .api(`/users/${a!.id}/manager`)
      .get()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphError);
    expect((err as GraphError).statusCode).toBe(404);
    expect((err as GraphError).code).toBe('Request_ResourceNotFound');

    emu.tenant.setManager(a!.id, boss!.id);
    const m = (await client.api(`/users/${a!.id}/manager`).get()) as Record<string, unknown>;
    expect(m).toMatchObject({ '@odata.type': '#microsoft.graph.user', id: boss!.id, displayName: 'User 0' });
    // The manager soft-deleted: no manager again.
    emu.tenant.softDeleteUser(boss!.id);
    expect((await rawGet(emu, `/v1.0/users/${a!.id}/manager`, bearer(emu))).status).toBe(404);
    expect((await rawGet(emu, `/v1.0/users/nobody/manager`, bearer(emu))).status).toBe(404);
  });

  it('PUT and DELETE manager/$ref need a write permission, answer 204 and show in the next round', async () => {
    const [boss, a] = mkUsers(2);
    const { deltaLink } = await deltaRound(graphClient(emu), '/users/delta', { select: SELECT });
    const put = (roles?: string[]) =>
      fetch(`${emu.url}/v1.0/users/${a!.id}/manager/$ref`, {
        method: 'PUT',
        headers: { ...bearer(emu, roles), 'content-type': 'application/json' },
        body: JSON.stringify({ '@odata.id': `https://graph.microsoft.com/v1.0/users/${boss!.id}` }),
      });
    expect((await put()).status).toBe(403);
    expect(emu.tenant.getManager(a!.id)).toBeUndefined();
    expect((await put(['User.ReadWrite.All'])).status).toBe(204);
    expect(emu.tenant.getManager(a!.id)!.id).toBe(boss!.id);
    const r = await next(deltaLink);
    expect(r.items).toEqual([{ id: a!.id, 'manager@delta': [ref(boss!.id)] }]);

    const bad = await fetch(`${emu.url}/v1.0/users/${a!.id}/manager/$ref`, {
      method: 'PUT',
      headers: { ...bearer(emu, ['User.ReadWrite.All']), 'content-type': 'application/json' },
      body: JSON.stringify({ '@odata.id': 'nonsense' }),
    });
    expect(bad.status).toBe(400);

    const del = () =>
      fetch(`${emu.url}/v1.0/users/${a!.id}/manager/$ref`, {
        method: 'DELETE',
        headers: bearer(emu, ['Directory.ReadWrite.All']),
      });
    expect((await del()).status).toBe(204);
    expect((await del()).status).toBe(404);
    expect((await next(r.deltaLink)).items).toEqual([{ id: a!.id, 'manager@delta': [gone(boss!.id)] }]);
  });

  it('/_ctl sets, reads and removes a manager', async () => {
    const [boss, a] = mkUsers(2);
    expect((await ctl('GET', `/users/${a!.id}/manager`)).status).toBe(404);
    expect((await ctl('PUT', `/users/${a!.id}/manager`, { managerId: boss!.id })).status).toBe(200);
    const got = await ctl('GET', `/users/${a!.id}/manager`);
    expect(got.body).toMatchObject({ id: boss!.id, displayName: 'User 0' });
    expect((await ctl('PUT', `/users/${a!.id}/manager`, { managerId: 'nobody' })).status).toBe(404);
    expect((await ctl('PUT', `/users/${a!.id}/manager`, { managerId: a!.id })).status).toBe(400);
    expect((await ctl('PUT', `/users/${a!.id}/manager`, {})).status).toBe(400);
    expect((await ctl('DELETE', `/users/${a!.id}/manager`)).status).toBe(200);
    expect((await ctl('GET', `/users/${a!.id}/manager`)).status).toBe(404);
  });
});
