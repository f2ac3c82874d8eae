/**
 * Issue 12 item 5, end to end: a mapping with a pattern that backtracks catastrophically, and a user whose
 * displayName triggers it, through the built CLI (sync, mappings eval/check) and the daemon against the emulator.
 * The CLI runs as a child process with a hard kill, so a stalled evaluation fails the test instead of hanging it.
 */
import { execFile } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { cycleFinished, startDaemon, type Daemon } from '../daemon/support.js';
import { startTestEmulator } from '../support/emulator.js';
import {
  CLI,
  emulatorEnv,
  syncHarness,
  tempDir,
  writeSettings,
  type CliResult,
  type SyncHarness,
} from '../support/harness.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const CATASTROPHIC = '^([A-Za-z]+\\s?)+\\((?<dept>[^)]*)\\)$';
const HOSTILE = 'Ab'.repeat(20);
const DEPARTMENT = `Replace([displayName], , "${CATASTROPHIC}", , "\${dept}", , )`;
// A 100-character jobTitle of "a"s squared, then multiplied by 100 again: 10^6 characters, over the bound.
const SQUARE = 'Replace([jobTitle], "a", , , [jobTitle], , )';
const TITLE = `Replace([jobTitle], "a", , , ${SQUARE}, , )`;

const mappings = [
  { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
  { target: 'displayName', direct: 'displayName' },
  { target: `${ENTERPRISE}:department`, expression: DEPARTMENT },
  { target: 'title', expression: TITLE },
];

let emu: RunningEmulator;
let dir: string;
let env: Record<string, string>;
let h: SyncHarness | undefined;
let daemon: Daemon | undefined;

beforeEach(async () => {
  emu = await startTestEmulator();
  dir = tempDir('entrasync-regex-');
  writeSettings(dir, { mappings });
  env = emulatorEnv(emu, dir);
});
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  h?.close();
  h = undefined;
  await emu.close();
});

/** The built CLI, killed (SIGKILL: a stalled regex never yields to a SIGTERM handler) after `ms`. */
function runCliWithin(ms: number, args: string[]): Promise<CliResult & { killed: boolean }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
        timeout: ms,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, killed: error?.killed === true });
      },
    );
  });
}

function person(upn: string, extra: Record<string, unknown>): string {
  const u = emu.tenant.createUser({ userPrincipalName: upn, accountEnabled: true, ...extra });
  emu.tenant.assign(u.id, 'User');
  return u.id;
}

function department(userName: string): unknown {
  const row = h!.row(userName);
  if (!row) return undefined;
  return (JSON.parse(row.scim) as Record<string, Record<string, unknown>>)[ENTERPRISE]?.department;
}

describe('a catastrophic Replace pattern and a hostile displayName', () => {
  it('the cycle finishes: the hostile user is synced correctly, an over-bound value fails only its user', async () => {
    person('hostile@contoso.com', { displayName: HOSTILE, jobTitle: 'Engineer' });
    person('hostile2@contoso.com', { displayName: `${HOSTILE} `, jobTitle: 'Engineer' });
    person('ann@contoso.com', { displayName: 'Ann Bell (Sales)', jobTitle: 'Engineer' });
    person('bob@contoso.com', { displayName: 'Bob Stone' });
    const huge = person('huge@contoso.com', { displayName: 'Hugh Long (R&D)', jobTitle: 'a'.repeat(100) });

    const sync = await runCliWithin(60_000, ['sync', '--json']);
    expect(sync.killed).toBe(false);
    expect(sync.code).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ status: 'succeeded', counts: { create: 4, error: 1 } });

    h = syncHarness(emu, { dir, settings: { mappings } });
    expect(h.rows().map((r) => r.user_name)).toEqual([
      'ann@contoso.com',
      'bob@contoso.com',
      'hostile2@contoso.com',
      'hostile@contoso.com',
    ]);
    // No match: Replace returns the source unchanged, as .NET would once it finished.
    expect(department('hostile@contoso.com')).toBe(HOSTILE);
    expect(department('hostile2@contoso.com')).toBe(`${HOSTILE} `);
    expect(department('ann@contoso.com')).toBe('Sales');
    expect(department('bob@contoso.com')).toBe('Bob Stone');
    expect(h.row('hostile@contoso.com')).toMatchObject({ display_name: HOSTILE });
    const [error] = h.rt.store.tables.audit.query({ action: 'error' });
    expect(error).toMatchObject({ entraId: huge, status: 'failure' });
    expect(error!.reason).toMatch(/mapping to title: Replace: the result would exceed \d+ characters/);
    expect(h.rt.store.tables.audit.query({ action: 'delete' })).toEqual([]);

    // The next cycle (the failed user waits in escrow for its retry) changes nobody and deletes nothing.
    const before = h.rows();
    h.close();
    h = undefined;
    const again = await runCliWithin(60_000, ['sync', '--json']);
    expect(again.killed).toBe(false);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'succeeded', counts: { create: 0, delete: 0 } });
    h = syncHarness(emu, { dir, settings: { mappings } });
    expect(h.rows()).toEqual(before);
  });

  it('the daemon finishes its cycle, answers /healthz and stops on SIGTERM', async () => {
    person('hostile@contoso.com', { displayName: HOSTILE });
    person('ann@contoso.com', { displayName: 'Ann Bell (Sales)' });
    daemon = await startDaemon({ ...env, ENTRASYNC_LOG_LEVEL: 'info', ENTRASYNC_SCHEDULE: '0 0 1 1 *' });
    expect((await daemon.get('/healthz')).status).toBe(200);
    const finished = await daemon.waitFor(cycleFinished, 30_000);
    expect(finished).toMatchObject({ status: 'succeeded' });
    expect((await daemon.get('/healthz')).status).toBe(200);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
    h = syncHarness(emu, { dir, settings: { mappings } });
    expect(department('hostile@contoso.com')).toBe(HOSTILE);
    expect(department('ann@contoso.com')).toBe('Sales');
  });
});

describe('mappings eval and mappings check through the built CLI', () => {
  it('eval returns promptly with the right result for the hostile value and its neighbours', async () => {
    for (const [displayName, expected] of [
      [HOSTILE, HOSTILE],
      ['Ab '.repeat(2000), 'Ab '.repeat(2000)],
      ['Ann Bell (Sales)', 'Sales'],
    ]) {
      const r = await runCliWithin(10_000, [
        'mappings',
        'eval',
        '--expression',
        DEPARTMENT,
        '--input',
        JSON.stringify({ displayName }),
      ]);
      expect(r.killed).toBe(false);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toBe(expected);
    }
  });

  it('eval names a construct the engine cannot run, and exits 2', async () => {
    const r = await runCliWithin(10_000, [
      'mappings',
      'eval',
      '--expression',
      'Replace([x], , "a(?=b)", , "", , )',
      '--input',
      '{"x":"ab"}',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/lookahead "\(\?=…\)" is not supported/);
    expect(r.stdout).toBe('');
  });

  it('check warns about the nested quantifier and still exits 0', async () => {
    const r = await runCliWithin(10_000, ['mappings', 'check', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { warnings: string[]; mappings: number };
    expect(summary.mappings).toBe(4);
    expect(summary.warnings).toHaveLength(1);
    expect(summary.warnings[0]).toMatch(/^mappings\[2\] \(target "urn:.*:department"\): .*nested quantifier/);
    expect(r.stderr).toContain(`warning: ${summary.warnings[0]}`);
    const text = await runCliWithin(10_000, ['mappings', 'check']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/4 mappings are valid, with 1 warning/);
    expect(text.stderr).toMatch(/warning: mappings\[2\].*"\(\[A-Za-z\]\+\\s\?\)\+"/);
  });

  it('check and sync reject a lookbehind at start-up, naming the mapping and the construct (exit 2)', async () => {
    writeSettings(dir, {
      mappings: [...mappings, { target: 'nickName', expression: 'Replace([x], , "(?<=a)b", , "", , )' }],
    });
    for (const args of [['mappings', 'check'], ['sync']]) {
      const r = await runCliWithin(30_000, args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/mappings\[4\]\.expression/);
      expect(r.stderr).toMatch(/lookbehind "\(\?<=…\)" is not supported/);
    }
    h = syncHarness(emu, { dir, settings: { mappings } });
    expect(h.rows()).toEqual([]);
  });
});
