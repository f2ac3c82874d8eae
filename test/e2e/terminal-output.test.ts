/**
 * Output for people and for machines (issue 15 §1 and §3): the built CLI under a pseudo-terminal
 * (`script -qfec`, util-linux) and into pipes. On a terminal: a progress bar on stderr, a readable
 * log (colour unless NO_COLOR), a summary at the end; into a pipe: JSON, nothing drawn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, runCli, runTty, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, testStore } from '../support/stores.js';
import { assertBuilt } from '../daemon/support.js';

/** The characters cli-progress's shades preset draws the bar with. */
const BAR = /[\u2591\u2588]{5,}/;
// eslint-disable-next-line no-control-regex -- an ANSI colour sequence is what is looked for
const COLOUR = /\x1b\[3\dm/;

const lastLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1);

let emu: RunningEmulator;
const ids: string[] = [];
beforeAll(async () => {
  assertBuilt();
  emu = await startTestEmulator({ pageSize: 10 });
  for (let i = 0; i < 60; i++) {
    const n = String(i).padStart(2, '0');
    const u = emu.tenant.createUser({
      userPrincipalName: `t${n}@contoso.com`,
      displayName: `Terminal ${n}`,
      mail: `t${n}@contoso.com`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
    ids.push(u.id);
  }
});
afterAll(() => emu.close());

function freshEnv(extra: Record<string, string> = {}, settings: Record<string, unknown> = {}) {
  const dir = tempDir();
  writeSettings(dir, settings);
  return emulatorEnv(emu, dir, { ENTRASYNC_LOG_LEVEL: 'info', ...extra });
}

describe('on a terminal', () => {
  it('sync draws a bar, keeps the per-user lines out, and ends with a summary', async () => {
    emu.tenant.setFaults({ latencyMs: 60 });
    const env = freshEnv();
    const r = await runTty(['sync'], env);
    emu.tenant.setFaults({});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(BAR);
    expect(r.stdout).not.toContain('"msg":"change"');
    expect(r.stdout).not.toMatch(/INFO.*\bchange\b/);
    expect(r.stdout).toMatch(/sync succeeded: initial cycle [0-9a-f-]{36}/);
    expect(r.stdout).toMatch(/\d+ Graph requests, 60 users in scope/);
    expect(r.stdout).toMatch(/action\s+users\n\s+-+\s+-+\n\s+create\s+60\n/);
    // The store holds what the summary says.
    const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as {
      users: { total: number };
      progress: unknown;
    };
    expect(status.users.total).toBe(60);
    expect(status.progress).toBeNull();
  }, 60_000);

  it('--no-progress: no bar, a pretty coloured log at info; NO_COLOR: no colour; --log-format json: JSON', async () => {
    const env = freshEnv();
    const pretty = await runTty(['sync', '--no-progress'], env);
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).not.toMatch(BAR);
    expect(pretty.stdout).toMatch(/\[\d\d:\d\d:\d\d\] .*INFO.*: .*cycle started/);
    expect(pretty.stdout).toMatch(COLOUR);
    expect(pretty.stdout).not.toContain('{"level":');

    const plain = await runTty(['resync', '--no-progress'], { ...env, NO_COLOR: '1' });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/INFO: cycle started/);
    expect(plain.stdout).not.toMatch(COLOUR);

    const json = await runTty(['sync', '--no-progress', '--log-format', 'json'], env);
    expect(json.code).toBe(0);
    const started = json.stdout.split('\n').find((l) => l.includes('cycle started'))!;
    expect((JSON.parse(started) as { msg: string }).msg).toBe('cycle started');

    const viaEnv = await runTty(['sync', '--no-progress'], { ...env, ENTRASYNC_LOG_FORMAT: 'json' });
    expect(viaEnv.stdout).toMatch(/^\{"level":30.*"msg":"cycle started"/m);
  }, 60_000);

  it('the summary names held deletions and failing users, and what to do next; approve-deletions answers last', async () => {
    const env = freshEnv({}, { safety: { deletionThreshold: { enabled: true, count: 3, percent: null } } });
    expect((await runCli(['sync'], env)).code).toBe(0);
    for (const id of ids.slice(0, 5)) emu.tenant.unassign(id);
    // One user whose Graph data is unusable: a failing user, retried.
    emu.tenant.updateUser(ids[10]!, { displayName: 'x'.repeat(5000) });
    try {
      const held = await runTty(['sync'], env);
      expect(held.code).toBe(0);
      expect(held.stdout).toMatch(/\bheld\s+5\n/);
      expect(held.stdout).toContain('Held: 5 disables/deletes wait for a decision');
      expect(held.stdout).toContain('Failing: 1 users');
      expect(held.stdout).toContain('`entrasync approve-deletions` applies them');
      expect(held.stdout).toContain('`entrasync retry --all`');

      const approve = await runTty(['approve-deletions'], env);
      expect(approve.code).toBe(0);
      expect(approve.stdout).toMatch(BAR);
      expect(approve.stdout).toMatch(/approve-deletions succeeded/);
      expect(approve.stdout).not.toMatch(/INFO.*\bchange\b/);
      expect(lastLine(approve.stdout)).toBe('Applied 5 disables and 0 deletes; 0 changes still held.');
      const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as {
        users: { active: number };
        deletions: { count: number };
      };
      expect(status.users.active).toBe(55);
      expect(status.deletions.count).toBe(0);
    } finally {
      for (const id of ids.slice(0, 5)) emu.tenant.assign(id, 'User');
      emu.tenant.updateUser(ids[10]!, { displayName: 'Terminal 10' });
    }
  }, 90_000);
});

describe('into a pipe', () => {
  it('no bar, JSON log lines, no summary', async () => {
    const env = freshEnv();
    const r = await runCli(['sync'], env);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(BAR);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l) as unknown).not.toThrow();
    expect(r.stdout).not.toContain('sync succeeded');
  }, 60_000);

  it('a bad --log-format or ENTRASYNC_LOG_FORMAT is a usage error (exit 2) that names itself', async () => {
    const env = freshEnv();
    const flag = await runCli(['sync', '--log-format', 'xml'], env);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--log-format');
    const variable = await runCli(['sync'], { ...env, ENTRASYNC_LOG_FORMAT: 'xml' });
    expect(variable.code).toBe(2);
    expect(variable.stderr).toContain('ENTRASYNC_LOG_FORMAT');
  }, 30_000);

  it('dry run: counts as a table, disables the threshold would hold marked [held], long lists cut', async () => {
    const env = freshEnv({}, { safety: { deletionThreshold: { enabled: true, count: 3, percent: null } } });
    const first = await runCli(['sync', '--dry-run'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/action\s+users\n\s+-+\s+-+\n\s+create\s+60\n/);
    expect(first.stdout).not.toMatch(/Counts: \{/);
    expect(first.stdout).toContain('…and 10 more (--all or --json lists every change)');
    expect(first.stdout.split('\n').filter((l) => /^\s+create\s/.test(l)).length).toBe(51); // 50 + the table row
    const all = await runCli(['sync', '--dry-run', '--all'], env);
    expect(all.stdout).not.toContain('…and');
    expect(all.stdout.split('\n').filter((l) => /^\s+create\s+t\d\d@/.test(l)).length).toBe(60);

    expect((await runCli(['sync'], env)).code).toBe(0);
    for (const id of ids.slice(0, 4)) emu.tenant.unassign(id);
    try {
      const held = await runCli(['sync', '--dry-run'], env);
      expect(held.code).toBe(0);
      // Held changes are counted as held, not as disables, and each is marked.
      expect(held.stdout).toMatch(/\n\s+held\s+4\n/);
      expect(held.stdout).not.toMatch(/\n\s+disable\s+\d+\n/);
      expect(
        held.stdout.split('\n').filter((l) => /^\s+disable\s+t0\d@contoso\.com \[held\]/.test(l)).length,
      ).toBe(4);
      const json = await runCli(['sync', '--dry-run', '--json'], env);
      const doc = JSON.parse(json.stdout) as { held: boolean; changes: { action: string; held?: boolean }[] };
      expect(doc.held).toBe(true);
      expect(doc.changes.filter((c) => c.action === 'disable' && c.held).length).toBe(4);
      // Nothing was written: the next real sync holds them.
      const status = JSON.parse((await runCli(['status', '--json'], env)).stdout) as {
        deletions: { count: number };
      };
      expect(status.deletions.count).toBe(0);
    } finally {
      for (const id of ids.slice(0, 4)) emu.tenant.assign(id, 'User');
    }
  }, 90_000);

  it('status lists 20 held changes, then "…and N more"', async () => {
    const env = freshEnv({}, { safety: { deletionThreshold: { enabled: true, count: 3, percent: null } } });
    expect((await runCli(['sync'], env)).code).toBe(0);
    for (const id of ids.slice(0, 25)) emu.tenant.unassign(id);
    try {
      expect((await runCli(['sync'], env)).code).toBe(0);
      const text = (await runCli(['status'], env)).stdout;
      expect(text).toContain('HELD: 25 disables/deletes');
      expect(text.split('\n').filter((l) => /^\s+disable\s+t\d\d@contoso\.com$/.test(l)).length).toBe(20);
      expect(text).toContain('…and 5 more (`entrasync audit --action staged-disable` lists them)');
    } finally {
      for (const id of ids.slice(0, 25)) emu.tenant.assign(id, 'User');
    }
  }, 60_000);

  it.each(STORE_KINDS)(
    'sync --json on failure prints the error with its class and exits 1 (%s)',
    async (kind) => {
      const dir = tempDir();
      const store = await testStore(kind, dir);
      writeSettings(dir);
      const env = emulatorEnv(emu, dir, {
        ENTRASYNC_DB: store.db,
        ENTRASYNC_CLIENT_SECRET: 'not-the-secret',
      });
      try {
        const r = await runCli(['sync', '--json'], env);
        expect(r.code).toBe(1);
        const doc = JSON.parse(r.stdout) as { status: string; error: { message: string; class: string } };
        expect(doc.status).toBe('failed');
        expect(doc.error.message.length).toBeGreaterThan(0);
        expect(doc.error.class).toBe('persistent');
        expect(r.stdout + r.stderr).not.toContain('not-the-secret');
        const cycles = await store.query<{ status: string }>('SELECT status FROM t.cycles');
        expect(cycles.map((c) => c.status)).toEqual(['failed']);
      } finally {
        await store.close();
      }
    },
    60_000,
  );
});
