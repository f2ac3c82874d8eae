/**
 * Failures of the source never become damage: throttling, dropped connections, garbled pages, lost
 * delta state, duplicates, a process killed mid-round, two processes at once. On each store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { quarantineState } from '../../src/safety/quarantine.js';
import { startTestEmulator } from '../support/emulator.js';
import { runCli } from '../support/harness.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

let emu: RunningEmulator;
let h: StoreHarness | undefined;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 5 });
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await emu.close();
});

function seed(n: number, prefix = 'user'): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const u = emu.tenant.createUser({
      userPrincipalName: `${prefix}${String(i).padStart(3, '0')}@contoso.com`,
      displayName: `${prefix} ${i}`,
      mail: `${prefix}${i}@contoso.com`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
    ids.push(u.id);
  }
  return ids;
}

async function snapshot(harness: StoreHarness) {
  return (await harness.rows()).map((r) => [r.external_id, r.user_name, r.active, r.email, r.display_name]);
}

describe.each(STORE_KINDS)('on %s', (kind) => {
  describe('transient failures are retried', () => {
    it('survives 429 bursts with Retry-After, 503 without it, and connection resets', async () => {
      seed(12);
      h = await storeHarness(emu, kind);
      emu.tenant.setFaults({ throttle: { every: 3, count: 4, status: 429, retryAfter: 0 } });
      let r = await h.sync();
      expect(r.status).toBe('succeeded');
      expect(await h.rows()).toHaveLength(12);
      expect(h.rt.api.stats.throttled).toBeGreaterThan(0);

      emu.tenant.updateUser(emu.tenant.userIdAt(0), { displayName: 'Renamed' });
      emu.tenant.setFaults({
        throttle: { count: 2, status: 503, retryAfter: null },
        resetConnections: { every: 2, count: 2 },
      });
      r = await h.sync();
      expect(r.status).toBe('succeeded');
      expect(r.counts.update).toBe(1);
    });

    it('a page that is not JSON is retried, not treated as empty', async () => {
      seed(8);
      h = await storeHarness(emu, kind);
      emu.tenant.setFaults({ malformedPage: { count: 1, pathPrefix: '/v1.0/users/delta' } });
      const r = await h.sync();
      expect(r.status).toBe('succeeded');
      expect(await h.rows()).toHaveLength(8);
    });
  });

  describe('failures that persist fail the cycle and change nothing', () => {
    it('Graph down mid-round: exit failed, store and delta state as they were, then convergence', async () => {
      const ids = seed(10);
      h = await storeHarness(emu, kind);
      await h.sync();
      const before = await snapshot(h);
      const link = await h.rt.store.state.get('users_delta_link');
      emu.tenant.unassign(ids[0]!);
      emu.tenant.unassign(ids[1]!);
      emu.tenant.setFaults({ throttle: { status: 503, retryAfter: null, pathPrefix: '/v1.0/users/delta' } });
      const failed = await h.sync();
      expect(failed.status).toBe('failed');
      expect(await snapshot(h)).toEqual(before);
      expect(await h.rt.store.state.get('users_delta_link')).toBe(link);
      emu.tenant.clearFaults();
      const ok = await h.sync();
      expect(ok.status).toBe('succeeded');
      expect(
        (await h.rows())
          .filter((r) => r.active === 0)
          .map((r) => r.external_id)
          .sort(),
      ).toEqual([ids[0], ids[1]].sort());
    });

    it('a failed assignment listing never disables anyone', async () => {
      seed(6);
      h = await storeHarness(emu, kind);
      await h.sync();
      emu.tenant.setFaults({
        throttle: { status: 503, retryAfter: null, pathPrefix: '/v1.0/servicePrincipals' },
      });
      const r = await h.sync();
      expect(r.status).toBe('failed');
      expect((await h.rows()).every((x) => x.active === 1)).toBe(true);
    });

    it('a missing permission fails the cycle with the permission named', async () => {
      seed(2);
      h = await storeHarness(emu, kind);
      emu.tenant.setPermissions(['User.Read.All', 'Application.Read.All']);
      const r = await h.sync();
      expect(r.status).toBe('failed');
      expect(r.error?.message).toMatch(/GroupMember\.Read\.All/);
      expect(await h.rows()).toHaveLength(0);
    });
  });

  describe('lost delta state', () => {
    for (const loss of ['expired', 'reset'] as const) {
      it(`a ${loss} delta token leads to a full enumeration with reconciliation`, async () => {
        const ids = seed(10);
        h = await storeHarness(emu, kind);
        await h.sync();
        emu.tenant.softDeleteUser(ids[2]!);
        emu.tenant.hardDeleteUser(ids[3]!);
        emu.tenant.updateUser(ids[4]!, { displayName: 'Changed' });
        if (loss === 'expired') emu.tenant.expireDeltaTokens();
        else emu.tenant.resetDeltaTokens();
        const r = await h.sync();
        expect(r.status).toBe('succeeded');
        expect(h.logs().some((l) => /delta state (expired|lost)/.test(String(l.msg)))).toBe(true);
        const rows = new Map((await h.rows()).map((x) => [x.external_id, x]));
        expect(rows.get(ids[2]!)?.active).toBe(0);
        expect(rows.has(ids[3]!)).toBe(false);
        expect(rows.get(ids[4]!)?.display_name).toBe('Changed');
        expect(rows.size).toBe(9);
      });
    }
  });

  describe('duplicates and replays', () => {
    it('converge to the same store as a clean run', async () => {
      const ids = seed(15);
      emu.tenant.setFaults({ duplicates: true });
      h = await storeHarness(emu, kind);
      await h.sync();
      emu.tenant.updateUser(ids[0]!, { displayName: 'Once' });
      emu.tenant.unassign(ids[1]!);
      await h.sync();
      await h.sync();
      expect(await h.rows()).toHaveLength(15);
      expect((await h.row('user000@contoso.com'))?.display_name).toBe('Once');
      expect((await h.row('user001@contoso.com'))?.active).toBe(0);
      expect(new Set((await h.rows()).map((r) => r.external_id)).size).toBe(15);
    });
  });

  describe('processes', () => {
    it('two concurrent syncs run one after the other', async () => {
      seed(20);
      emu.tenant.setFaults({ latencyMs: 20 });
      h = await storeHarness(emu, kind);
      const env = { ...h.env, ENTRASYNC_LOG_LEVEL: 'info' };
      const [a, b] = await Promise.all([runCli(['sync'], env), runCli(['sync'], env)]);
      expect([a.code, b.code]).toEqual([0, 0]);
      expect(a.stdout + b.stdout).toMatch(/another cycle is running; waiting/);
      expect(await h.rows()).toHaveLength(20);
      const cycles = await h.rt.store.cycles.recent(10);
      expect(cycles.map((c) => c.status)).toEqual(['succeeded', 'succeeded']);
      expect(cycles.map((c) => c.kind).sort()).toEqual(['incremental', 'initial']);
    });
  });

  describe('token endpoint outages', () => {
    it('are retried with backoff', async () => {
      seed(3);
      h = await storeHarness(emu, kind);
      emu.tenant.setFaults({ token: { count: 3, status: 503 } });
      const r = await h.sync();
      expect(r.status).toBe('succeeded');
      expect(await h.rows()).toHaveLength(3);
      expect(h.logs().filter((l) => l.msg === 'token request failed, retrying')).toHaveLength(3);
    });

    it('that last fail the cycle cleanly, without changes', async () => {
      seed(3);
      h = await storeHarness(emu, kind);
      emu.tenant.setFaults({ token: { count: 100, status: 503 } });
      const r = await h.sync();
      expect(r.status).toBe('failed');
      expect(r.error?.message).toMatch(/token endpoint failed 6 times/);
      expect(await h.rows()).toHaveLength(0);
    });
  });

  describe('delta state lost in the middle of a round', () => {
    for (const loss of ['expired', 'reset'] as const) {
      it(`(${loss}) restarts the round as a full enumeration and converges`, async () => {
        const ids = seed(30);
        h = await storeHarness(emu, kind);
        await h.sync();
        emu.tenant.unassign(ids[0]!);
        for (let i = 1; i < 15; i++) emu.tenant.updateUser(ids[i]!, { displayName: `mid ${i}` });
        emu.tenant.setFaults({ latencyMs: 30 });
        // The incremental round spans 3 pages; the tokens die after its first page.
        const timer = setTimeout(
          () => (loss === 'expired' ? emu.tenant.expireDeltaTokens() : emu.tenant.resetDeltaTokens()),
          200,
        );
        const r = await h.sync();
        clearTimeout(timer);
        expect(r.status).toBe('succeeded');
        expect((await h.row('user000@contoso.com'))?.active).toBe(0);
        for (let i = 1; i < 15; i++)
          expect((await h.row(`user${String(i).padStart(3, '0')}@contoso.com`))?.display_name).toBe(
            `mid ${i}`,
          );
        expect((await h.rows()).filter((x) => x.active === 1)).toHaveLength(29);
      });
    }
  });

  describe('latency and 504', () => {
    it('slow and timing-out answers still converge', async () => {
      const ids = seed(10);
      h = await storeHarness(emu, kind);
      emu.tenant.setFaults({
        latencyMs: 40,
        throttle: { every: 2, count: 3, status: 504, retryAfter: null },
      });
      await h.sync();
      emu.tenant.updateUser(ids[9]!, { displayName: 'Slow' });
      const r = await h.sync();
      expect(r.status).toBe('succeeded');
      expect((await h.row('user009@contoso.com'))?.display_name).toBe('Slow');
    });
  });

  describe('quarantine', () => {
    it('follows repeated failures and lifts with the first good cycle', async () => {
      seed(2);
      h = await storeHarness(emu, kind);
      emu.tenant.setFaults({ throttle: { status: 503, retryAfter: null } });
      for (let i = 0; i < 3; i++) expect((await h.sync()).status).toBe('failed');
      const q = await quarantineState(h.rt.store);
      expect(q).toMatchObject({
        quarantined: true,
        reason: 'EncounteredQuarantineException',
        consecutiveFailures: 3,
      });
      expect(Date.parse(q.nextAttemptAt!) - Date.now()).toBeGreaterThan(3500_000);
      emu.tenant.clearFaults();
      expect((await h.sync()).status).toBe('succeeded');
      expect((await quarantineState(h.rt.store)).quarantined).toBe(false);
    });
  });
});
