/**
 * A user deleted in Entra while a cycle reads: the users round is read ahead, at the same time as the
 * scope (src/sync/read-ahead.ts), so a delete can land after the user's users/delta page was read
 * and before the assignment listing or the groups round drop the user. The cycle then sees "left
 * scope" without the delete that caused it; left scope releases the user (§6.4: no longer managed),
 * and the delete reported by the next cycle would be ignored. The cycle must tell the two apart.
 * Found by the soak test (test/daemon/soak.test.ts): a hard-deleted user left in the store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

const LISTING = '/v1.0/servicePrincipals/';
const GROUPS_DELTA = '/v1.0/groups/delta';
const USERS_DELTA = '/v1.0/users/delta';
/** Long enough for the users round to be read while the scope's first request still waits. */
const SLOW_SCOPE_MS = 600;

let emu: RunningEmulator;
let h: StoreHarness;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 100 });
});
afterEach(async () => {
  await h?.close();
  await emu.close();
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a cycle with a slow scope read and does `change` to the tenant once the cycle's users round
 * has been answered and before the scope is: the window the read-ahead opens.
 */
async function cycleWithChangeInWindow(change: () => void) {
  emu.tenant.setFaults({
    slowPaths: [
      { pathPrefix: LISTING, latencyMs: SLOW_SCOPE_MS },
      { pathPrefix: GROUPS_DELTA, latencyMs: SLOW_SCOPE_MS },
    ],
  });
  emu.tenant.clearRequests();
  const started = Date.now();
  const cycle = h.sync();
  let changed = false;
  try {
    while (!emu.tenant.requests().some((r) => r.path.startsWith(USERS_DELTA))) {
      if (Date.now() - started > SLOW_SCOPE_MS / 2) throw new Error('the users round was not read ahead');
      await delay(2);
    }
    const scopeAnswered = emu.tenant
      .requests()
      .some((r) => r.path.startsWith(LISTING) || r.path.startsWith(GROUPS_DELTA));
    // The change must fall after the users page and before the scope's answer, or the test proves nothing.
    expect(scopeAnswered).toBe(false);
    change();
    changed = true;
  } finally {
    const result = await cycle;
    emu.tenant.clearFaults();
    if (changed) expect(result.status).toBe('succeeded');
  }
}

describe.each(STORE_KINDS)('a delete between the users round and the scope, on %s', (kind) => {
  let ada: string, bob: string;
  let group: string;

  beforeEach(async () => {
    ada = createEnabledUser(emu, 'ada@contoso.com').id;
    bob = createEnabledUser(emu, 'bob@contoso.com').id;
    emu.tenant.assign(ada, 'User');
    group = emu.tenant.createGroup({ displayName: 'Staff', members: [bob] }).id;
    emu.tenant.assign(group, 'Group');
    h = await storeHarness(emu, kind);
    expect((await h.sync()).status).toBe('succeeded');
    expect((await h.rows()).map((r) => [r.user_name, r.active])).toEqual([
      ['ada@contoso.com', 1],
      ['bob@contoso.com', 1],
    ]);
  });

  const audit = (entraId: string) =>
    h.store.query<{ action: string; reason_code: string }>(
      'SELECT action, reason_code FROM t.audit WHERE entra_id = ? ORDER BY seq',
      [entraId],
    );

  it('a directly assigned user hard-deleted: deleted, not released as "unassigned"', async () => {
    await cycleWithChangeInWindow(() => emu.tenant.hardDeleteUser(ada));
    await h.sync();

    expect((await h.rows()).map((r) => r.user_name)).toEqual(['bob@contoso.com']);
    expect(await audit(ada)).toEqual([
      { action: 'create', reason_code: 'new-assignment' },
      { action: 'delete', reason_code: 'hard-deleted' },
    ]);
  });

  it('a user renamed before the cycle, then hard-deleted in the window: deleted (its change was in the round)', async () => {
    emu.tenant.updateUser(ada, { displayName: 'Ada Renamed' });
    emu.tenant.updateUser(bob, { displayName: 'Bob Renamed' });
    await cycleWithChangeInWindow(() => {
      emu.tenant.hardDeleteUser(ada);
      emu.tenant.softDeleteUser(bob);
    });
    await h.sync();

    expect(await h.rows()).toEqual([expect.objectContaining({ user_name: 'bob@contoso.com', active: 0 })]);
    expect((await audit(ada)).map((a) => a.reason_code)).toEqual(['new-assignment', 'hard-deleted']);
    expect((await audit(bob)).map((a) => a.reason_code)).toEqual(['new-assignment', 'soft-deleted']);
    emu.tenant.hardDeleteUser(bob);
    await h.sync();
    expect(await h.rows()).toEqual([]);
  });

  it('a directly assigned user soft-deleted: disabled and still managed, so the purge deletes it', async () => {
    await cycleWithChangeInWindow(() => emu.tenant.softDeleteUser(ada));
    await h.sync();
    expect((await h.row('ada@contoso.com'))?.active).toBe(0);

    emu.tenant.hardDeleteUser(ada);
    await h.sync();

    expect((await h.rows()).map((r) => r.user_name)).toEqual(['bob@contoso.com']);
    expect(await audit(ada)).toEqual([
      { action: 'create', reason_code: 'new-assignment' },
      { action: 'disable', reason_code: 'soft-deleted' },
      { action: 'delete', reason_code: 'hard-deleted' },
    ]);
  });

  it('a member of an assigned group soft-deleted, then purged: disabled, then deleted', async () => {
    await cycleWithChangeInWindow(() => emu.tenant.softDeleteUser(bob));
    await h.sync();
    expect((await h.row('bob@contoso.com'))?.active).toBe(0);

    emu.tenant.hardDeleteUser(bob);
    await h.sync();

    expect((await h.rows()).map((r) => r.user_name)).toEqual(['ada@contoso.com']);
    expect((await audit(bob)).map((a) => a.reason_code)).toEqual([
      'new-assignment',
      'soft-deleted',
      'hard-deleted',
    ]);
  });

  it('a member of an assigned group hard-deleted: deleted', async () => {
    await cycleWithChangeInWindow(() => emu.tenant.hardDeleteUser(bob));
    await h.sync();

    expect((await h.rows()).map((r) => r.user_name)).toEqual(['ada@contoso.com']);
    expect((await audit(bob)).map((a) => a.reason_code)).toEqual(['new-assignment', 'hard-deleted']);
  });

  it('a user truly unassigned in the window: disabled as unassigned and released; a later delete is ignored (§6.4)', async () => {
    await cycleWithChangeInWindow(() => emu.tenant.unassign(ada));
    expect((await h.row('ada@contoso.com'))?.active).toBe(0);

    emu.tenant.hardDeleteUser(ada);
    await h.sync();

    expect((await h.row('ada@contoso.com'))?.active).toBe(0);
    expect(await audit(ada)).toEqual([
      { action: 'create', reason_code: 'new-assignment' },
      { action: 'disable', reason_code: 'unassigned' },
      { action: 'skip', reason_code: 'released' },
    ]);
  });
});
