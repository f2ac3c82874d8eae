/**
 * Progress on long work (issue 15 §1): a cycle made slow by the emulator's latency fault publishes
 * its phase and counters to `status` in another process (both stores), to the daemon's /metrics,
 * and to the log every few seconds with a rate and an ETA.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import type { CycleProgress } from '../../src/sync/progress.js';
import type { StatusDocument } from '../../src/sync/status.js';
import { startTestEmulator } from '../support/emulator.js';
import { CLI, emulatorEnv, ROOT, runCli, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, storeHarness, testStore, type TestStore } from '../support/stores.js';
import { assertBuilt, cycleFinished, startDaemon } from '../daemon/support.js';

const USERS = 200;
const PAGE = 5;
/** Only users/delta is slow: the scope is read at once, the users round takes 40 × 300 ms. */
const SLOW_USERS = { slowPaths: [{ pathPrefix: '/v1.0/users/delta', latencyMs: 300 }] };
/** The default lease (the tests' 5 s would expire under the users round's open transaction on SQLite). */
const SETTINGS = { sync: { batchSize: 50, lockTtlSeconds: 60 } };

async function seededEmulator(): Promise<RunningEmulator> {
  const emu = await startTestEmulator({ pageSize: PAGE });
  for (let i = 0; i < USERS; i++) {
    const n = String(i).padStart(3, '0');
    const u = emu.tenant.createUser({
      userPrincipalName: `p${n}@contoso.com`,
      displayName: `Person ${n}`,
      mail: `p${n}@contoso.com`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
  }
  return emu;
}

describe.each(STORE_KINDS)('status of a running cycle from another process (%s)', (kind) => {
  let emu: RunningEmulator;
  let store: TestStore;
  let env: Record<string, string>;

  beforeAll(async () => {
    assertBuilt();
    emu = await seededEmulator();
    const dir = tempDir();
    store = await testStore(kind, dir);
    writeSettings(dir, SETTINGS);
    env = emulatorEnv(emu, dir, { ENTRASYNC_DB: store.db, ENTRASYNC_USERS_STRATEGY: 'tenant' });
  });
  afterAll(async () => {
    await store.close();
    await emu.close();
  });

  it('shows the phase and growing counters, "first full sync in progress", and nothing once it ends', async () => {
    emu.tenant.setFaults(SLOW_USERS);
    const child = spawn(process.execPath, [CLI, 'sync', '--json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let running = true;
    void exited.then(() => (running = false));

    const seen: CycleProgress[] = [];
    let text = '';
    // Two readers at a time: a `status` process takes a second or more on a busy machine.
    const poll = async () => {
      while (running) {
        const r = await runCli(['status', '--json'], env);
        if (r.code !== 0) continue; // before the sync created the store
        const s = JSON.parse(r.stdout) as StatusDocument;
        if (s.progress) seen.push(s.progress);
        if (s.progress?.phase === 'users' && !text.includes('Running: users'))
          text = (await runCli(['status'], env)).stdout;
      }
    };
    await Promise.all([poll(), new Promise((r) => setTimeout(r, 500)).then(poll)]);
    seen.sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
    expect(await exited).toBe(0);
    const result = JSON.parse(out) as { cycleId: string; counts: Record<string, number> };
    expect(result.counts.create).toBe(USERS);

    const users = seen.filter((p) => p.phase === 'users');
    expect(
      users.length,
      JSON.stringify(seen.map((p) => [p.phase, p.done, p.updatedAt])),
    ).toBeGreaterThanOrEqual(2);
    for (const p of seen) {
      expect(p.cycleId).toBe(result.cycleId);
      expect(p.kind).toBe('initial');
      expect(p.usersInScope === null || p.usersInScope === USERS).toBe(true);
    }
    expect(users[0]!.usersInScope).toBe(USERS);
    expect(users.at(-1)!.usersRead).toBeGreaterThan(users[0]!.usersRead);
    expect(users.at(-1)!.pagesRead).toBeGreaterThan(users[0]!.pagesRead);
    expect(users.at(-1)!.graphRequests).toBeGreaterThan(users[0]!.graphRequests);
    expect(users.some((p) => p.expected === USERS && p.done > 0 && p.done < USERS)).toBe(true);
    expect(users.some((p) => p.usersWritten > 0 && (p.counts.create ?? 0) === p.usersWritten)).toBe(true);
    expect(users.some((p) => p.ratePerSecond !== null && p.etaSeconds !== null)).toBe(true);

    expect(text).toMatch(/Running: users [\d,]+ \/ 200 \(\d+ %\)/);
    expect(text).toContain('Delta state: none yet (first full sync in progress)');

    const after = JSON.parse((await runCli(['status', '--json'], env)).stdout) as StatusDocument;
    expect(after.progress).toBeNull();
    expect(after.cycleRunning).toBeNull();
    emu.tenant.setFaults({});
  }, 60_000);
});

describe.each(STORE_KINDS)('progress of a round read by id (%s)', (kind) => {
  let emu: RunningEmulator;
  /** Twice the users one wave of concurrent reads by id takes (4 × 50): the progress is seen between waves. */
  const BY_ID = 2 * USERS;
  beforeAll(async () => {
    emu = await seededEmulator();
    for (let i = 0; i < USERS; i++) {
      const u = emu.tenant.createUser({ userPrincipalName: `q${i}@contoso.com`, accountEnabled: true });
      emu.tenant.assign(u.id, 'User');
    }
  });
  afterAll(() => emu.close());

  it('expects the users in scope, reads them all, and ends in the last phase with every user written', async () => {
    const h = await storeHarness(emu, kind, {
      settings: SETTINGS,
      env: { ENTRASYNC_USERS_STRATEGY: 'scoped' },
    });
    // Reads by id are 50 users a request: slow enough for the tracker's 200 ms ticks to see them.
    emu.tenant.setFaults({ slowPaths: [{ pathPrefix: '/v1.0/users', latencyMs: 500 }] });
    const seen: CycleProgress[] = [];
    try {
      const result = await h.sync({ onProgress: (p) => seen.push(p) });
      expect(result.status, result.error?.message).toBe('succeeded');
      const users = seen.filter((p) => p.phase === 'users');
      expect(users.some((p) => p.expected === BY_ID && p.done > 0 && p.done < BY_ID)).toBe(true);
      const last = seen.at(-1)!;
      expect(last.phase).toBe('settle');
      expect(last.usersRead).toBe(BY_ID);
      expect(last.usersWritten).toBe(BY_ID);
      expect(last.counts).toEqual({ create: BY_ID });
      expect(last.graphRequests).toBe(result.graphRequests);
      expect((await h.rows()).length).toBe(BY_ID);
    } finally {
      emu.tenant.setFaults({});
      await h.close();
    }
  }, 60_000);
});

describe('progress under the daemon', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    assertBuilt();
    emu = await seededEmulator();
  });
  afterAll(() => emu.close());

  it('/metrics has the phase and progress gauges during a cycle, none after; the log has rate and ETA', async () => {
    const dir = tempDir();
    writeSettings(dir, SETTINGS);
    emu.tenant.setFaults(SLOW_USERS);
    const daemon = await startDaemon(
      emulatorEnv(emu, dir, {
        ENTRASYNC_LOG_LEVEL: 'info',
        ENTRASYNC_USERS_STRATEGY: 'tenant',
        ENTRASYNC_SCHEDULE: '0 0 1 1 *',
      }),
    );
    try {
      await daemon.waitFor((l) => l.msg === 'cycle started');
      const gauge = (text: string, series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line ? Number(line.slice(series.length + 1)) : null;
      };
      let during = '';
      for (let i = 0; i < 100; i++) {
        during = (await daemon.get('/metrics')).body;
        if ((gauge(during, 'entrasync_cycle_users_read') ?? 0) > 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(gauge(during, 'entrasync_cycle_phase{phase="users"}')).toBe(1);
      expect(gauge(during, 'entrasync_cycle_phase{phase="scope"}')).toBe(0);
      expect(gauge(during, 'entrasync_cycle_progress_expected')).toBe(USERS);
      expect(gauge(during, 'entrasync_cycle_progress_done')).toBeGreaterThan(0);
      expect(gauge(during, 'entrasync_cycle_users_read')).toBeGreaterThan(0);
      expect(gauge(during, 'entrasync_cycle_users_written')).not.toBeNull();

      const finished = await daemon.waitFor(cycleFinished, 30_000);
      expect(finished.status).toBe('succeeded');
      const after = (await daemon.get('/metrics')).body;
      expect(gauge(after, 'entrasync_cycle_phase{phase="users"}')).toBeNull();
      expect(gauge(after, 'entrasync_cycle_users_read')).toBe(0);
      expect(gauge(after, 'entrasync_cycle_progress_done')).toBe(0);

      // Every few seconds at info, with the percentage, rate and ETA once they are known.
      const lines = daemon.lines().filter((l) => l.msg === 'cycle progress');
      expect(lines.length).toBeGreaterThanOrEqual(1);
      const estimated = lines.find((l) => l.phase === 'users' && l.etaSeconds !== null);
      expect(estimated).toBeDefined();
      expect(estimated!.expected).toBe(USERS);
      expect(estimated!.ratePerSecond).toBeGreaterThan(0);
      expect(estimated!.percent).toBeGreaterThanOrEqual(0);
      expect(estimated!.usersRead).toBeGreaterThan(0);
    } finally {
      await daemon.stop();
      emu.tenant.setFaults({});
    }
  }, 60_000);

  it('a daemon stopped in the middle of a cycle leaves no progress behind (SQLite: no file)', async () => {
    const dir = tempDir();
    writeSettings(dir, SETTINGS);
    emu.tenant.setFaults(SLOW_USERS);
    const env = emulatorEnv(emu, dir, {
      ENTRASYNC_LOG_LEVEL: 'info',
      ENTRASYNC_USERS_STRATEGY: 'tenant',
      ENTRASYNC_SCHEDULE: '0 0 1 1 *',
    });
    const daemon = await startDaemon(env);
    const file = join(dir, 'store.db.progress');
    try {
      for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(file)).toBe(true);
      expect((await daemon.stop('SIGTERM')) ?? 0).toBeLessThanOrEqual(1);
      expect(existsSync(file)).toBe(false);
      const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as StatusDocument;
      expect(status.progress).toBeNull();
      expect(status.lastCycles[0]!.status).toBe('aborted');
    } finally {
      await daemon.stop('SIGKILL');
      emu.tenant.setFaults({});
    }
  }, 60_000);
});
