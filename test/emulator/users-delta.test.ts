import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { bearer, deltaRound, graphClient, rawGet, rawRound, type Item } from './helpers.js';

let emu: RunningEmulator;
beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
});
afterEach(() => emu.close());

const SELECT = 'userPrincipalName,mail,displayName,accountEnabled,jobTitle';

function mkUsers(n: number, extra: Record<string, unknown> = {}) {
  return Array.from({ length: n }, (_, k) =>
    emu.tenant.createUser({
      userPrincipalName: `u${k}@contoso.com`,
      displayName: `User ${k}`,
      mail: `u${k}@contoso.com`,
      ...extra,
    }),
  );
}
const byId = (items: Item[]) => new Map(items.map((i) => [i.id, i]));

describe('users/delta through the real Graph client', () => {
  it('PageIterator pages the initial round to a deltaLink; links are absolute on the emulator origin', async () => {
    const users = mkUsers(8);
    const client = graphClient(emu);
    const { items, deltaLink } = await deltaRound(client, '/users/delta', { select: SELECT });
    expect(items.map((i) => i.id).sort()).toEqual(users.map((u) => u.id).sort());
    expect(items[0]).toEqual({
      userPrincipalName: 'u0@contoso.com',
      mail: 'u0@contoso.com',
      displayName: 'User 0',
      accountEnabled: true,
      id: users[0]!.id,
    });
    expect(deltaLink.startsWith(`${emu.url}/v1.0/users/delta?$deltatoken=`)).toBe(true);
    // 8 users at page size 3: 3 pages; no page carried both links (rawRound checks).
    const raw = await rawRound(emu, `/v1.0/users/delta?$select=${SELECT}`);
    expect(raw.pages.length).toBe(3);
    expect(raw.pages[0]!['@odata.nextLink']).toMatch(
      new RegExp(`^${emu.url}/v1.0/users/delta\\?\\$skiptoken=`),
    );
    expect(raw.pages[0]!['@odata.context']).toBe(`${emu.url}/v1.0/$metadata#users(${SELECT})`);
  });

  it('accepts the long /users/microsoft.graph.delta form', async () => {
    mkUsers(2);
    const r = await rawRound(emu, '/v1.0/users/microsoft.graph.delta');
    expect(r.items.length).toBe(2);
  });

  it('without $select returns the documented default set (no accountEnabled); never-set props are omitted', async () => {
    const [u] = mkUsers(1, { jobTitle: 'Engineer', department: 'R&D' });
    const r = await rawRound(emu, '/v1.0/users/delta');
    expect(r.items).toEqual([
      {
        displayName: 'User 0',
        jobTitle: 'Engineer',
        mail: 'u0@contoso.com',
        userPrincipalName: 'u0@contoso.com',
        id: u!.id,
      },
    ]);
  });

  it('incremental round, default mode: all selected props of changed users; untracked changes do not appear', async () => {
    const [a, b, c] = mkUsers(3);
    const client = graphClient(emu);
    const first = await deltaRound(client, '/users/delta', { select: SELECT });
    emu.tenant.updateUser(a!.id, { accountEnabled: false });
    emu.tenant.updateUser(b!.id, { department: 'Sales' }); // not selected: not tracked
    emu.tenant.updateUser(c!.id, { mail: null });
    const second = await deltaRound(client, first.deltaLink);
    expect(second.items).toEqual([
      {
        userPrincipalName: 'u0@contoso.com',
        mail: 'u0@contoso.com',
        displayName: 'User 0',
        accountEnabled: false,
        id: a!.id,
      },
      {
        userPrincipalName: 'u2@contoso.com',
        mail: null,
        displayName: 'User 2',
        accountEnabled: true,
        id: c!.id,
      },
    ]);
    const third = await deltaRound(client, second.deltaLink);
    expect(third.items).toEqual([]);
  });

  it('Prefer: return=minimal returns only the changed properties (incl. nulls) and says so', async () => {
    const [a, b] = mkUsers(2);
    const client = graphClient(emu);
    const first = await deltaRound(client, '/users/delta', { select: SELECT });
    emu.tenant.updateUser(a!.id, { accountEnabled: false, jobTitle: 'Boss' });
    emu.tenant.updateUser(b!.id, { mail: null });
    const second = await deltaRound(client, first.deltaLink, { minimal: true });
    expect(second.items).toEqual([
      { accountEnabled: false, jobTitle: 'Boss', id: a!.id },
      { mail: null, id: b!.id },
    ]);
    const raw = await rawGet(emu, second.deltaLink, { ...bearer(emu), Prefer: 'return=minimal' });
    expect(raw.headers.get('preference-applied')).toBe('return=minimal');
  });

  it('soft delete -> @removed changed, hard delete -> @removed deleted, restore -> plain object again', async () => {
    const [a, b, c] = mkUsers(3);
    const client = graphClient(emu);
    const r1 = await deltaRound(client, '/users/delta', { select: SELECT });
    emu.tenant.softDeleteUser(a!.id);
    emu.tenant.hardDeleteUser(b!.id);
    const r2 = await deltaRound(client, r1.deltaLink);
    expect(byId(r2.items).get(a!.id)).toEqual({ id: a!.id, '@removed': { reason: 'changed' } });
    expect(byId(r2.items).get(b!.id)).toEqual({ id: b!.id, '@removed': { reason: 'deleted' } });
    expect(r2.items.length).toBe(2);

    emu.tenant.restoreUser(a!.id);
    emu.tenant.hardDeleteUser(c!.id);
    const r3 = await deltaRound(client, r2.deltaLink, { minimal: true });
    // A restore arrives as a plain, complete object even under return=minimal.
    expect(byId(r3.items).get(a!.id)).toEqual({
      userPrincipalName: 'u0@contoso.com',
      mail: 'u0@contoso.com',
      displayName: 'User 0',
      accountEnabled: true,
      id: a!.id,
    });
    expect(byId(r3.items).get(c!.id)).toEqual({ id: c!.id, '@removed': { reason: 'deleted' } });

    // A new initial round reports the removed ones as well (removed entries in the initial round).
    const fresh = await deltaRound(client, '/users/delta', { select: 'displayName' });
    expect(byId(fresh.items).get(b!.id)).toEqual({ id: b!.id, '@removed': { reason: 'deleted' } });
    expect(byId(fresh.items).get(a!.id)).toEqual({ displayName: 'User 0', id: a!.id });
  });

  it('soft-deleted users are 404 on /users/{id} and 200 in /directory/deletedItems/{id}', async () => {
    const [a] = mkUsers(1);
    const h = bearer(emu);
    expect(
      (await rawGet(emu, `/v1.0/users/${a!.id}?$select=displayName,accountEnabled`, h)).body,
    ).toMatchObject({
      displayName: 'User 0',
      accountEnabled: true,
      id: a!.id,
    });
    expect((await rawGet(emu, `/v1.0/directory/deletedItems/${a!.id}`, h)).status).toBe(404);
    emu.tenant.softDeleteUser(a!.id);
    const gone = await rawGet(emu, `/v1.0/users/${a!.id}`, h);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ error: { code: 'Request_ResourceNotFound' } });
    const del = await rawGet(emu, `/v1.0/directory/deletedItems/${a!.id}`, h);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({
      '@odata.type': '#microsoft.graph.user',
      id: a!.id,
      deletedDateTime: expect.any(String),
    });
    const list = await rawGet(emu, '/v1.0/directory/deletedItems/microsoft.graph.user', h);
    expect((list.body.value as Item[]).map((u) => u.id)).toEqual([a!.id]);
  });

  it('$filter=id eq … or … limits the round to those ids; more than 50 ids is a 400', async () => {
    const users = mkUsers(6);
    const client = graphClient(emu);
    const want = [users[1]!.id, users[4]!.id];
    const r = await deltaRound(client, '/users/delta', {
      select: 'displayName',
      filter: want.map((id) => `id eq '${id}'`).join(' or '),
    });
    expect(r.items.map((i) => i.id)).toEqual(want);
    emu.tenant.updateUser(users[1]!.id, { displayName: 'changed' });
    emu.tenant.updateUser(users[2]!.id, { displayName: 'changed' });
    const r2 = await deltaRound(client, r.deltaLink);
    expect(r2.items).toEqual([{ displayName: 'changed', id: users[1]!.id }]);

    const many = Array.from(
      { length: 51 },
      (_, k) => `id eq '00000000-0000-4000-8000-${String(k).padStart(12, '0')}'`,
    ).join(' or ');
    const bad = await rawGet(emu, `/v1.0/users/delta?$filter=${encodeURIComponent(many)}`, bearer(emu));
    expect(bad.status).toBe(400);
    const fifty = many.split(' or ').slice(0, 50).join(' or ');
    expect(
      (await rawGet(emu, `/v1.0/users/delta?$filter=${encodeURIComponent(fifty)}`, bearer(emu))).status,
    ).toBe(200);
  });

  it('$deltatoken=latest gives a deltaLink and no data; later changes arrive from there', async () => {
    const [a] = mkUsers(4);
    const r = await rawGet(emu, '/v1.0/users/delta?$select=displayName&$deltatoken=latest', bearer(emu));
    expect(r.body.value).toEqual([]);
    expect(r.body['@odata.nextLink']).toBeUndefined();
    emu.tenant.updateUser(a!.id, { displayName: 'Renamed' });
    const next = await rawRound(emu, (r.body['@odata.deltaLink'] as string).slice(emu.url.length));
    expect(next.items).toEqual([{ displayName: 'Renamed', id: a!.id }]);
  });

  it('a round of only untracked changes can yield empty pages that still carry a nextLink', async () => {
    const users = mkUsers(2);
    const first = await rawRound(emu, '/v1.0/users/delta?$select=displayName');
    for (let k = 0; k < 30; k++) emu.tenant.updateUser(users[0]!.id, { department: `d${k}` });
    emu.tenant.updateUser(users[1]!.id, { displayName: 'last' });
    const r = await rawRound(emu, first.deltaLink.slice(emu.url.length));
    expect(r.pages[0]!.value).toEqual([]);
    expect(r.pages[0]!['@odata.nextLink']).toBeDefined();
    expect(r.items).toEqual([{ displayName: 'last', id: users[1]!.id }]);
  });

  it('changes made while a round pages are replayed in the next round (tokens are log positions)', async () => {
    const users = mkUsers(7);
    const h = bearer(emu);
    const p1 = await rawGet(emu, '/v1.0/users/delta?$select=displayName', h);
    emu.tenant.updateUser(users[0]!.id, { displayName: 'during paging' }); // already sent
    const created = emu.tenant.createUser({ userPrincipalName: 'late@contoso.com', displayName: 'Late' });
    let url = p1.body['@odata.nextLink'] as string;
    const seen: Item[] = [...(p1.body.value as Item[])];
    let deltaLink = '';
    while (url) {
      const p = await rawGet(emu, url, h);
      seen.push(...(p.body.value as Item[]));
      url = p.body['@odata.nextLink'] as string;
      deltaLink = (p.body['@odata.deltaLink'] as string) ?? deltaLink;
    }
    expect(seen.some((i) => i.id === created.id)).toBe(true);
    const next = await rawRound(emu, deltaLink.slice(emu.url.length));
    expect(byId(next.items).get(users[0]!.id)).toEqual({ displayName: 'during paging', id: users[0]!.id });
    expect(byId(next.items).has(created.id)).toBe(true); // a replay: sent in both rounds
  });

  it('the duplicates fault re-sends users within a round and replays the last changes', async () => {
    const users = mkUsers(7);
    emu.tenant.setFaults({ duplicates: true });
    const r1 = await rawRound(emu, '/v1.0/users/delta?$select=displayName');
    expect(r1.items.length).toBeGreaterThan(7);
    expect(new Set(r1.items.map((i) => i.id)).size).toBe(7);
    emu.tenant.updateUser(users[3]!.id, { displayName: 'x' });
    emu.tenant.updateUser(users[3]!.id, { displayName: 'y' });
    const r2 = await rawRound(emu, r1.deltaLink.slice(emu.url.length));
    expect(r2.items.filter((i) => i.id === users[3]!.id).length).toBe(2);
    const r3 = await rawRound(emu, r2.deltaLink.slice(emu.url.length));
    expect(r3.items.map((i) => i.id)).toContain(users[3]!.id);
  });
});

describe('token expiry and reset', () => {
  it('expired tokens answer 400 syncStateNotFound; the Graph client surfaces it', async () => {
    mkUsers(4);
    const client = graphClient(emu);
    const r = await deltaRound(client, '/users/delta', { select: 'displayName' });
    const mid = await rawGet(emu, '/v1.0/users/delta?$select=displayName', bearer(emu));
    emu.tenant.expireDeltaTokens();
    for (const link of [r.deltaLink, mid.body['@odata.nextLink'] as string]) {
      const res = await rawGet(emu, link, bearer(emu));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        error: {
          code: 'syncStateNotFound',
          message:
            'The sync state generation is not found. The delta token is expired and data must be synchronized again.',
          innerError: { 'request-id': expect.any(String), date: expect.any(String) },
        },
      });
    }
    await expect(client.api(r.deltaLink).get()).rejects.toMatchObject({
      statusCode: 400,
      code: 'syncStateNotFound',
    });
  });

  it('tokens older than deltaTokenMaxAgeSeconds expire', async () => {
    const short = await startTestEmulator({ deltaTokenMaxAgeSeconds: 1 });
    try {
      const r = await rawGet(short, '/v1.0/users/delta?$deltatoken=latest', bearer(short));
      await new Promise((res) => setTimeout(res, 1100));
      const res = await rawGet(short, r.body['@odata.deltaLink'] as string, bearer(short));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'syncStateNotFound' } });
    } finally {
      await short.close();
    }
  });

  it('a reset answers 410 Gone with Location = the query with an empty $deltatoken, which starts over', async () => {
    mkUsers(2);
    const r = await rawRound(emu, '/v1.0/users/delta?$select=displayName');
    emu.tenant.resetDeltaTokens();
    const res = await rawGet(emu, r.deltaLink, bearer(emu));
    expect(res.status).toBe(410);
    const location = res.headers.get('location')!;
    expect(location).toBe(`${emu.url}/v1.0/users/delta?$deltatoken=`);
    const again = await rawRound(emu, location.slice(emu.url.length));
    expect(again.items.length).toBe(2);
  });

  it('a malformed or tampered token is 400 badRequest', async () => {
    const r = await rawRound(emu, '/v1.0/users/delta');
    const bad = r.deltaLink.replace(/\$deltatoken=./, '$deltatoken=X');
    const res = await rawGet(emu, bad, bearer(emu));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'badRequest' } });
    const groupsWithUserToken = await rawGet(emu, r.deltaLink.replace('/users/', '/groups/'), bearer(emu));
    expect(groupsWithUserToken.status).toBe(400);
  });
});
