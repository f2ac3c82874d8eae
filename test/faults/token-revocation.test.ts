/**
 * An access token Graph stops accepting (revoked, a signing-key rollover, clock skew) is replaced by
 * a fresh one once per rejected request, so cycles keep succeeding and quarantine never starts. A
 * token rejected even when fresh is a persistent failure, and quarantine says which kind started it.
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

function seed(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const u = emu.tenant.createUser({
      userPrincipalName: `token${String(i).padStart(3, '0')}@contoso.com`,
      displayName: `Token User ${i}`,
      mail: `token${i}@contoso.com`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
    ids.push(u.id);
  }
  return ids;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tokenRequests = () => emu.tenant.requests().filter((r) => r.path.includes('/oauth2/v2.0/token'));
const graphRequests = () => emu.tenant.requests().filter((r) => r.path.startsWith('/v1.0/'));
const refreshLines = (harness: StoreHarness) =>
  harness.logs().filter((l) => l.msg === 'Graph rejected the access token; requesting a fresh one');

describe.each(STORE_KINDS)('on %s', (kind) => {
  describe('the emulator revokes tokens as Graph does', () => {
    it('POST /_ctl/tokens/revoke: tokens issued before get 401 InvalidAuthenticationToken, later ones work', async () => {
      seed(1);
      const get = (token: string) =>
        fetch(`${emu.url}/v1.0/users/delta`, { headers: { authorization: `Bearer ${token}` } });
      const before = emu.issueAccessToken();
      expect((await get(before)).status).toBe(200);
      const revoke = await fetch(`${emu.url}/_ctl/tokens/revoke`, { method: 'POST', body: '{}' });
      expect(revoke.status).toBe(200);
      const rejected = await get(before);
      expect(rejected.status).toBe(401);
      expect(((await rejected.json()) as { error: { code: string } }).error.code).toBe(
        'InvalidAuthenticationToken',
      );
      expect(rejected.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect((await get(emu.issueAccessToken())).status).toBe(200);
    });
  });

  describe('a rejected access token is replaced once and the request retried', () => {
    it('tokens revoked before each of several cycles: every cycle succeeds and quarantine never starts', async () => {
      const ids = seed(12);
      h = await storeHarness(emu, kind);
      expect((await h.sync()).status).toBe('succeeded');
      for (let round = 0; round < 4; round++) {
        emu.tenant.updateUser(ids[round]!, { displayName: `Renamed ${round}` });
        emu.tenant.revokeTokens();
        const r = await h.sync();
        expect(r.error?.message).toBeUndefined();
        expect(r.status).toBe('succeeded');
        expect(r.counts.update).toBe(1);
        expect((await h.row(`token${String(round).padStart(3, '0')}@contoso.com`))?.display_name).toBe(
          `Renamed ${round}`,
        );
      }
      expect(h.rt.api.stats.tokenRefreshes).toBeGreaterThanOrEqual(4);
      const q = await quarantineState(h.rt.store);
      expect(q).toMatchObject({ quarantined: false, consecutiveFailures: 0, startedBy: null });
      // Logged at warn, and no line carries a token (a JWT starts with "eyJ").
      const lines = refreshLines(h);
      expect(lines.length).toBeGreaterThanOrEqual(4);
      expect(lines.every((l) => l.level === 40 && typeof l.path === 'string')).toBe(true);
      expect(h.logs().some((l) => JSON.stringify(l).includes('eyJ'))).toBe(false);
    });

    it('tokens revoked twice during a long initial cycle: it completes with every user', async () => {
      seed(40);
      h = await storeHarness(emu, kind);
      emu.tenant.setFaults({ latencyMs: 60 });
      const cycle = h.sync();
      let revoked = 0;
      let done = false;
      void cycle.finally(() => (done = true));
      // Revoke after a few answered requests, then again a few requests later.
      for (const after of [3, 8]) {
        while (!done && graphRequests().length < after) await delay(10);
        if (done) break;
        emu.tenant.revokeTokens();
        revoked++;
      }
      const r = await cycle;
      expect(revoked).toBe(2);
      expect(r.status).toBe('succeeded');
      expect(await h.rows()).toHaveLength(40);
      expect((await h.rows()).every((row) => row.active === 1)).toBe(true);
      expect(graphRequests().filter((q) => q.status === 401).length).toBeGreaterThanOrEqual(2);
      expect(h.rt.api.stats.tokenRefreshes).toBeGreaterThanOrEqual(2);
      expect((await quarantineState(h.rt.store)).consecutiveFailures).toBe(0);
    });

    it('a token rejected even when fresh fails the cycle once per request, not in a loop; a persistent failure', async () => {
      seed(6);
      h = await storeHarness(emu, kind);
      expect((await h.sync()).status).toBe('succeeded');
      emu.tenant.clearRequests();
      emu.tenant.setFaults({ rejectTokens: true });
      const r = await h.sync();
      expect(r.status).toBe('failed');
      expect(r.error?.name).toBe('GraphAccessError');
      expect(r.error?.message).toMatch(/rejected .*even a fresh access token.*InvalidAuthenticationToken/);
      // Each rejected request: one fresh token, one retry, then final.
      const rejected = graphRequests().filter((q) => q.status === 401);
      const perPath = new Map<string, number>();
      for (const q of rejected) perPath.set(q.path, (perPath.get(q.path) ?? 0) + 1);
      expect([...perPath.values()].every((n) => n === 2)).toBe(true);
      expect(tokenRequests().length).toBeLessThanOrEqual(perPath.size);
      expect(tokenRequests().length).toBeGreaterThanOrEqual(1);

      for (let i = 0; i < 2; i++) expect((await h.sync()).status).toBe('failed');
      const q = await quarantineState(h.rt.store);
      expect(q.quarantined).toBe(true);
      expect(q.startedBy).toMatchObject({ failureClass: 'persistent' });
      expect(q.startedBy?.error).toMatch(/fresh access token/);
      expect(q.failures).toEqual({ persistent: 3, transient: 0, unknown: 0 });

      // A fresh token that works again: the next cycle succeeds and lifts the quarantine.
      emu.tenant.clearFaults();
      expect((await h.sync()).status).toBe('succeeded');
      expect((await quarantineState(h.rt.store)).quarantined).toBe(false);
    });
  });

  describe('quarantine tells the failures apart', () => {
    it('status names the failure that started the quarantine and its class (transient, then persistent)', async () => {
      seed(4);
      h = await storeHarness(emu, kind);
      expect((await h.sync()).status).toBe('succeeded');
      // Graph unavailable after every retry: transient; then a permission removed: persistent.
      emu.tenant.setFaults({ throttle: { status: 503, retryAfter: null } });
      expect((await h.sync()).status).toBe('failed');
      emu.tenant.clearFaults();
      emu.tenant.setPermissions(['User.Read.All', 'Application.Read.All']);
      // Roles travel in the token: Graph sees the change once the cached token is replaced.
      emu.tenant.revokeTokens();
      for (let i = 0; i < 2; i++) expect((await h.sync()).status).toBe('failed');

      const json = await runCli(['status', '--json'], h.env);
      expect(json.code).toBe(0);
      const status = JSON.parse(json.stdout) as {
        quarantine: {
          quarantined: boolean;
          startedBy: { cycleId: string; failureClass: string; error: string } | null;
          failures: Record<string, number>;
          lastError: string;
        };
        lastCycles: { id: string; failureClass: string | null }[];
      };
      expect(status.quarantine.quarantined).toBe(true);
      expect(status.quarantine.startedBy).toMatchObject({ failureClass: 'transient' });
      expect(status.quarantine.startedBy?.error).toMatch(/failed after \d+ attempts/);
      expect(status.quarantine.failures).toEqual({ persistent: 2, transient: 1, unknown: 0 });
      expect(status.quarantine.lastError).toMatch(/GroupMember\.Read\.All/);
      expect(status.lastCycles.slice(0, 3).map((c) => c.failureClass)).toEqual([
        'persistent',
        'persistent',
        'transient',
      ]);
      expect(status.lastCycles[2]!.id).toBe(status.quarantine.startedBy?.cycleId);

      const text = await runCli(['status'], h.env);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(
        /QUARANTINED \(EncounteredQuarantineException\): 3 failed cycles \(2 persistent, 1 transient\)/,
      );
      expect(text.stdout).toMatch(
        /started by a transient failure in cycle [0-9a-f-]+ .*failed after \d+ attempts/,
      );
    });
  });
});
