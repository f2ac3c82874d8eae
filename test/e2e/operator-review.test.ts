/**
 * Issue 15 tried as a new operator would (review of the merged work): each test is a defect found by
 * running the built CLI against the emulator, on both stores where the store is read.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { CLI, emulatorEnv, ROOT, runCli, runTty, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, testStore, type TestStore } from '../support/stores.js';
import { assertBuilt } from '../daemon/support.js';

const USERS = 100;

async function seededEmulator(): Promise<RunningEmulator> {
  const emu = await startTestEmulator({ pageSize: 5 });
  for (let i = 0; i < USERS; i++) {
    const u = emu.tenant.createUser({ userPrincipalName: `r${i}@contoso.com`, accountEnabled: true });
    emu.tenant.assign(u.id, 'User');
  }
  return emu;
}

describe.each(STORE_KINDS)('status text while a cycle runs (%s)', (kind) => {
  let emu: RunningEmulator;
  let store: TestStore;
  let env: Record<string, string>;

  beforeAll(async () => {
    assertBuilt();
    emu = await seededEmulator();
    const dir = tempDir();
    store = await testStore(kind, dir);
    writeSettings(dir, { sync: { batchSize: 50, lockTtlSeconds: 60 } });
    env = emulatorEnv(emu, dir, { ENTRASYNC_DB: store.db, ENTRASYNC_USERS_STRATEGY: 'tenant' });
  });
  afterAll(async () => {
    await store.close();
    await emu.close();
  });

  // Before: the running cycle's row read "running - ms  0 requests  no changes" under a "Running:"
  // line that counted its requests and creates.
  it('the running cycle in "Recent cycles" does not claim 0 requests and no changes', async () => {
    emu.tenant.setFaults({ slowPaths: [{ pathPrefix: '/v1.0/users/delta', latencyMs: 300 }] });
    const child = spawn(process.execPath, [CLI, 'sync', '--json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
      stdio: 'ignore',
    });
    let running = true;
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    void exited.then(() => (running = false));
    let text = '';
    while (running && !/Running: users [\d,]+ \/ 100 \(\d+ %\)/.test(text)) {
      const r = await runCli(['status'], env);
      if (r.code === 0) text = r.stdout;
    }
    expect(await exited).toBe(0);
    emu.tenant.setFaults({});
    expect(text).toMatch(/Running: users/);
    const row = text.split('\n').find((l) => / initial +running/.test(l));
    expect(row, text).toBeDefined();
    expect(row).not.toMatch(/ 0 requests|no changes|- ms/);
    expect(row).toMatch(/in progress/);
  }, 60_000);
});

describe('the progress bar of a dry run', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    assertBuilt();
    emu = await seededEmulator();
  });
  afterAll(() => emu.close());

  // Before: a dry run's bar read "100 read, 100 written" although it writes nothing.
  it('does not say the users were written', async () => {
    const dir = tempDir();
    writeSettings(dir, {});
    const env = emulatorEnv(emu, dir);
    const r = await runTty(['sync', '--dry-run'], env);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('Dry run (initial): nothing was written.');
    expect(r.stdout).toMatch(/[\d,]+ read, [\d,]+ to write/);
    expect(r.stdout).not.toMatch(/ written, /);
    // The store really was left alone.
    expect((await runCli(['status'], env)).code).toBe(2);
  }, 60_000);

  // Before: a cycle that took 300 ms was summarised as lasting "0 s".
  it('the summary of a short cycle gives its duration in tenths, not "0 s"', async () => {
    const dir = tempDir();
    writeSettings(dir, {});
    const env = emulatorEnv(emu, dir);
    const r = await runTty(['sync'], env);
    expect(r.code, r.stdout).toBe(0);
    const line = r.stdout.split('\n').find((l) => / Graph requests/.test(l));
    expect(line, r.stdout).toMatch(/^\s+\d+(\.\d)? s, \d+ Graph requests, 100 users in scope$/);
    expect(line).not.toMatch(/^\s+0 s,/);
    const status = (await runCli(['status'], env)).stdout;
    const ms = Number(/succeeded ([\d,]+) ms/.exec(status)![1]!.replace(/,/g, ''));
    if (ms < 10_000) expect(line).toContain(` ${(ms / 1000).toFixed(1)} s,`);
  }, 60_000);
});

// Before: every command's --help said ENTRASYNC_LOG_FORMAT defaults to "pretty on a terminal", but
// only sync, resync and approve-deletions choose pretty by themselves; the daemon on a terminal logs JSON.
describe('--help on the default log format', () => {
  it('says pretty on a terminal for the cycle commands, JSON for the daemon and the rest', async () => {
    for (const command of ['sync', 'resync', 'approve-deletions']) {
      const help = (await runCli([command, '--help'], {})).stdout;
      expect(help, command).toMatch(/ENTRASYNC_LOG_FORMAT, NO_COLOR\n.*default: pretty on a terminal/);
    }
    for (const command of ['run', 'status', 'test-connection']) {
      const help = (await runCli([command, '--help'], {})).stdout;
      expect(help, command).toMatch(/ENTRASYNC_LOG_FORMAT, NO_COLOR\n.*default: json\b/);
      expect(help, command).not.toContain('pretty on a terminal');
    }
  }, 60_000);

  // Before: `run --help` listed /healthz /readyz /metrics /status but not the status page at /.
  it('run --help names the status page at / and the host variable', async () => {
    const help = (await runCli(['run', '--help'], {})).stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/\/metrics \/status and a status page at \/ on /);
    expect(help).toContain('ENTRASYNC_HTTP_HOST:ENTRASYNC_HTTP_PORT (default 127.0.0.1:8080)');
  }, 30_000);
});

// Before: `status` printed "Users in store: 1104 (active 1104, …)" where the summary, the bar and the
// status page print "1,104": the same number in two spellings.
describe('status text numbers', () => {
  let emu: RunningEmulator;
  beforeAll(async () => {
    assertBuilt();
    emu = await startTestEmulator({ seed: { users: 1200, groups: 2, assignEvery: 1, seed: 7 } });
  });
  afterAll(() => emu.close());

  it('are grouped by thousands, as on the page and in the summary', async () => {
    const dir = tempDir();
    writeSettings(dir, {});
    const env = emulatorEnv(emu, dir);
    const sync = await runCli(['sync', '--json'], env);
    expect(sync.code, sync.stderr).toBe(0);
    const created = (JSON.parse(sync.stdout) as { counts: { create: number } }).counts.create;
    expect(created).toBeGreaterThan(999);
    const text = (await runCli(['status'], env)).stdout;
    const grouped = created.toLocaleString('en-US');
    expect(text).toContain(
      `Users in store: ${grouped} (active ${grouped}, inactive 0, linked to Entra ${grouped}, local 0)`,
    );
    expect(text).toMatch(new RegExp(`succeeded [\\d,]+ ms +[\\d,]+ requests +create ${grouped}`));
  }, 60_000);
});
