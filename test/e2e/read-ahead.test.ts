/**
 * The users round read while the scope is read (src/sync/read-ahead.ts): it must change only when
 * pages are read, never what is written, and a failure on either side must write nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
});
afterEach(async () => {
  h?.close();
  await emu.close();
});

const LISTING = '/v1.0/servicePrincipals/';
const user = (upn: string) => createEnabledUser(emu, upn);

/** 12 assigned users and 6 others: 6 pages of users/delta at 3 per page. */
function seed() {
  const assigned = Array.from({ length: 12 }, (_, i) => user(`a${String(i).padStart(2, '0')}@contoso.com`));
  for (const u of assigned) emu.tenant.assign(u.id, 'User');
  for (let i = 0; i < 6; i++) user(`other${i}@contoso.com`);
  return assigned;
}

const requestPaths = () => emu.tenant.requests().map((r) => decodeURIComponent(r.path));
const roundLog = () => h.logs().filter((l) => l.msg === 'users round complete');
const count = (sql: string) => h.rt.store.db.prepare(sql).pluck().get() as number;

describe('users read-ahead', () => {
  it('reads the users round while a slow assignment listing is read, and writes the same', async () => {
    const assigned = seed();
    emu.tenant.setFaults({ slowPaths: [{ pathPrefix: LISTING, latencyMs: 400 }] });
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'tenant' } });
    emu.tenant.clearRequests();

    const result = await h.sync();

    expect(result.status).toBe('succeeded');
    expect(result.counts.create).toBe(12);
    expect(
      h
        .rows()
        .map((r) => r.external_id)
        .sort(),
    ).toEqual(assigned.map((u) => u.id).sort());
    expect(count('SELECT count(*) FROM source_users')).toBe(12);
    // Every users page was read while the listing was: the round took them all from the read-ahead.
    const usersPages = requestPaths().filter((p) => p.startsWith('/v1.0/users/delta'));
    expect(usersPages.length).toBeGreaterThanOrEqual(6);
    expect(usersPages.every((p) => !p.includes('$filter'))).toBe(true);
    expect(roundLog().at(-1)).toMatchObject({ pages: usersPages.length, readAhead: usersPages.length });
  });

  it('reads an incremental round ahead too, and applies its changes once', async () => {
    const assigned = seed();
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'tenant' } });
    await h.sync();
    emu.tenant.updateUser(assigned[0]!.id, { displayName: 'Renamed' });
    emu.tenant.updateUser(assigned[1]!.id, { accountEnabled: false });
    emu.tenant.setFaults({ slowPaths: [{ pathPrefix: LISTING, latencyMs: 100 }] });

    const result = await h.sync();

    expect(result.status).toBe('succeeded');
    expect(result.counts).toMatchObject({ update: 1, disable: 1, create: 0 });
    expect(h.row('a00@contoso.com')).toMatchObject({ display_name: 'Renamed', active: 1 });
    expect(h.row('a01@contoso.com')!.active).toBe(0);
    expect(roundLog().at(-1)).toMatchObject({ full: false, readAhead: 1 });
    expect(count("SELECT count(*) FROM audit WHERE action = 'update'")).toBe(1);
  });

  it('writes nothing when the listing fails, and reads nothing more once the cycle has failed', async () => {
    const assigned = seed();
    emu.tenant.setFaults({ throttle: { pathPrefix: LISTING, status: 503, retryAfter: null } });
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'tenant' } });

    const failed = await h.sync();

    expect(failed.status).toBe('failed');
    expect(h.rows()).toEqual([]);
    expect(count('SELECT count(*) FROM source_users')).toBe(0);
    expect(count('SELECT count(*) FROM audit')).toBe(0);
    const afterFailure = requestPaths().length;
    await new Promise((r) => setTimeout(r, 300));
    expect(requestPaths()).toHaveLength(afterFailure);

    emu.tenant.clearFaults();
    const next = await h.sync();
    expect(next.status).toBe('succeeded');
    expect(
      h
        .rows()
        .map((r) => r.external_id)
        .sort(),
    ).toEqual(assigned.map((u) => u.id).sort());
  });

  it('hands a users read that failed during the listing to the round: the cycle fails, nothing is disabled', async () => {
    seed();
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'tenant' } });
    await h.sync();
    expect(h.rows().filter((r) => r.active === 1)).toHaveLength(12);
    emu.tenant.setFaults({
      throttle: { pathPrefix: '/v1.0/users/delta', status: 503, retryAfter: null },
      slowPaths: [{ pathPrefix: LISTING, latencyMs: 100 }],
    });

    const failed = await h.sync({ forced: true });

    expect(failed.status).toBe('failed');
    expect(failed.counts).toMatchObject({ disable: 0, delete: 0 });
    expect(h.rows().filter((r) => r.active === 1)).toHaveLength(12);
    emu.tenant.clearFaults();
    const next = await h.sync();
    expect(next.status).toBe('succeeded');
    expect(h.rows().filter((r) => r.active === 1)).toHaveLength(12);
  });

  it('a dry run reads ahead and still writes nothing', async () => {
    seed();
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'tenant' } });
    const dry = await h.sync({ dryRun: true });
    expect(dry.status).toBe('succeeded');
    expect(dry.counts.create).toBe(12);
    expect(h.rows()).toEqual([]);
    expect(count('SELECT count(*) FROM source_users')).toBe(0);
    const real = await h.sync();
    expect(real.counts.create).toBe(12);
  });
});
