/**
 * Failures of the source never become damage: throttling, dropped connections, garbled pages, lost
 * delta state, duplicates, a process killed mid-round, two processes at once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { CLI, ROOT, runCli, syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness | undefined;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 5 });
});
afterEach(async () => {
  h?.close();
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

function snapshot(harness: SyncHarness) {
  return harness.rows().map((r) => [r.external_id, r.user_name, r.active, r.email, r.display_name]);
}

describe('transient failures are retried', () => {
  it('survives 429 bursts with Retry-After, 503 without it, and connection resets', async () => {
    seed(12);
    h = syncHarness(emu);
    emu.tenant.setFaults({ throttle: { every: 3, count: 4, status: 429, retryAfter: 0 } });
    let r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(h.rows()).toHaveLength(12);
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
    h = syncHarness(emu);
    emu.tenant.setFaults({ malformedPage: { count: 1, pathPrefix: '/v1.0/users/delta' } });
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(h.rows()).toHaveLength(8);
  });
});

describe('failures that persist fail the cycle and change nothing', () => {
  it('Graph down mid-round: exit failed, store and delta state as they were, then convergence', async () => {
    const ids = seed(10);
    h = syncHarness(emu);
    await h.sync();
    const before = snapshot(h);
    const link = h.rt.store.state.get('users_delta_link');
    emu.tenant.unassign(ids[0]!);
    emu.tenant.unassign(ids[1]!);
    emu.tenant.setFaults({ throttle: { status: 503, retryAfter: null, pathPrefix: '/v1.0/users/delta' } });
    const failed = await h.sync();
    expect(failed.status).toBe('failed');
    expect(snapshot(h)).toEqual(before);
    expect(h.rt.store.state.get('users_delta_link')).toBe(link);
    emu.tenant.clearFaults();
    const ok = await h.sync();
    expect(ok.status).toBe('succeeded');
    expect(
      h
        .rows()
        .filter((r) => r.active === 0)
        .map((r) => r.external_id)
        .sort(),
    ).toEqual([ids[0], ids[1]].sort());
  });

  it('a failed assignment listing never disables anyone', async () => {
    seed(6);
    h = syncHarness(emu);
    await h.sync();
    emu.tenant.setFaults({
      throttle: { status: 503, retryAfter: null, pathPrefix: '/v1.0/servicePrincipals' },
    });
    const r = await h.sync();
    expect(r.status).toBe('failed');
    expect(h.rows().every((x) => x.active === 1)).toBe(true);
  });

  it('a missing permission fails the cycle with the permission named', async () => {
    seed(2);
    h = syncHarness(emu);
    emu.tenant.setPermissions(['User.Read.All', 'Application.Read.All']);
    const r = await h.sync();
    expect(r.status).toBe('failed');
    expect(r.error?.message).toMatch(/GroupMember\.Read\.All/);
    expect(h.rows()).toHaveLength(0);
  });
});

describe('lost delta state', () => {
  for (const loss of ['expired', 'reset'] as const) {
    it(`a ${loss} delta token leads to a full enumeration with reconciliation`, async () => {
      const ids = seed(10);
      h = syncHarness(emu);
      await h.sync();
      emu.tenant.softDeleteUser(ids[2]!);
      emu.tenant.hardDeleteUser(ids[3]!);
      emu.tenant.updateUser(ids[4]!, { displayName: 'Changed' });
      if (loss === 'expired') emu.tenant.expireDeltaTokens();
      else emu.tenant.resetDeltaTokens();
      const r = await h.sync();
      expect(r.status).toBe('succeeded');
      expect(h.logs().some((l) => /delta state (expired|lost)/.test(String(l.msg)))).toBe(true);
      const rows = new Map(h.rows().map((x) => [x.external_id, x]));
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
    h = syncHarness(emu);
    await h.sync();
    emu.tenant.updateUser(ids[0]!, { displayName: 'Once' });
    emu.tenant.unassign(ids[1]!);
    await h.sync();
    await h.sync();
    expect(h.rows()).toHaveLength(15);
    expect(h.row('user000@contoso.com')?.display_name).toBe('Once');
    expect(h.row('user001@contoso.com')?.active).toBe(0);
    expect(new Set(h.rows().map((r) => r.external_id)).size).toBe(15);
  });
});

describe('processes', () => {
  it('two concurrent syncs run one after the other', async () => {
    seed(20);
    emu.tenant.setFaults({ latencyMs: 20 });
    h = syncHarness(emu);
    const env = { ...h.env, ENTRASYNC_LOG_LEVEL: 'info' };
    const [a, b] = await Promise.all([runCli(['sync'], env), runCli(['sync'], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stdout + b.stdout).toMatch(/another cycle is running; waiting/);
    expect(h.rows()).toHaveLength(20);
    const cycles = h.rt.store.cycles.recent(10);
    expect(cycles.map((c) => c.status)).toEqual(['succeeded', 'succeeded']);
    expect(cycles.map((c) => c.kind).sort()).toEqual(['incremental', 'initial']);
  });

  it('syncs killed with SIGKILL at seeded random points, then a normal one, reach exactly the right state', async () => {
    const ids = seed(60);
    h = syncHarness(emu);
    emu.tenant.setFaults({ latencyMs: 10 });
    const random = seededRandom(20261128);
    const env = { ...h.env, ENTRASYNC_LOG_LEVEL: 'info' };
    // Initial round: 12 pages of 5 users at >= 10 ms each; kill inside it at three random points.
    for (let i = 0; i < 3; i++) await killDuringCycle(env, Math.floor(random() * 250));
    expect((await runCli(['sync'], env)).code).toBe(0);
    expect(
      h
        .rows()
        .map((x) => x.external_id)
        .sort(),
    ).toEqual([...ids].sort());

    for (let i = 0; i < 20; i++) emu.tenant.updateUser(ids[i]!, { displayName: `v2 ${i}` });
    for (let i = 20; i < 30; i++) emu.tenant.unassign(ids[i]!);
    for (let i = 0; i < 3; i++) await killDuringCycle(env, Math.floor(random() * 150));
    expect((await runCli(['sync'], env)).code).toBe(0);
    const rows = new Map(h.rows().map((x) => [x.external_id!, x]));
    expect(rows.size).toBe(60);
    for (let i = 0; i < 20; i++)
      expect(rows.get(ids[i]!)).toMatchObject({ display_name: `v2 ${i}`, active: 1 });
    for (let i = 20; i < 30; i++) expect(rows.get(ids[i]!)?.active).toBe(0);
    for (let i = 30; i < 60; i++) expect(rows.get(ids[i]!)?.active).toBe(1);
    const cycles = h.rt.store.cycles.recent(20);
    expect(cycles[0]!.status).toBe('succeeded');
    expect(cycles.filter((c) => c.status === 'aborted').length).toBeGreaterThanOrEqual(5);
    // Every applied change is audited: each disabled row has its disable entry.
    const disables = h.rt.store.audit.query({ action: 'disable', limit: 1000 }).map((e) => e.entraId);
    for (let i = 20; i < 30; i++) expect(disables).toContain(ids[i]);
  });
});

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Starts `sync` and kills it with SIGKILL `ms` after it logged the start of its cycle. */
function killDuringCycle(env: Record<string, string>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'sync'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let timer: NodeJS.Timeout | undefined;
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      if (!timer && buffered.includes('"cycle started"')) timer = setTimeout(() => child.kill('SIGKILL'), ms);
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
