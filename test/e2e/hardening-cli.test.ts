/**
 * CLI hardening, through the built CLI as a child process against the emulator: usage errors exit 2
 * and run nothing; the read-only commands never create a store; a dry run creates none either; and
 * invisible or reordering characters in user data are escaped in every human (non-JSON) output.
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, runCli, tempDir, writeSettings } from '../support/harness.js';

let emu: RunningEmulator;
let dir: string;
let env: Record<string, string>;
let storePath: string;

/** Zero-width, bidirectional, C1 and C0 controls: what must never reach a terminal raw. */
const HOSTILE = 'eve\u202Egpj.exe\u200B\u2066x\u2069\u0085\u009B31m\u001B[2J\u0007\r\nfake line@contoso.com';
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2066-\u2069]/;

const counts = () => {
  const db = new Database(storePath, { readonly: true });
  try {
    const n = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { cycles: n('cycles'), audit: n('audit'), users: n('users') };
  } finally {
    db.close();
  }
};

beforeAll(async () => {
  emu = await startTestEmulator();
  for (const name of ['ana', 'ben', 'cho']) {
    const u = emu.tenant.createUser({ userPrincipalName: `${name}@contoso.com`, accountEnabled: true });
    emu.tenant.assign(u.id, 'User');
  }
  dir = tempDir();
  writeSettings(dir);
  env = emulatorEnv(emu, dir);
  storePath = env.ENTRASYNC_DB!;
  const first = await runCli(['sync'], env);
  expect(first.code).toBe(0);
  // What an application or an earlier cycle could have left: hostile text in audit, held and
  // failing-user rows, written with plain SQL.
  const db = new Database(storePath);
  const cycle = (db.prepare('SELECT id FROM cycles').get() as { id: string }).id;
  db.prepare(
    `INSERT INTO audit (cycle_id, at, action, status, entra_id, user_name, modified, reason)
     VALUES (?, ?, 'update', 'success', 'e1', ?, ?, ?)`,
  ).run(
    cycle,
    new Date().toISOString(),
    HOSTILE,
    JSON.stringify([{ target: 'displayName', oldValue: 'Eve', newValue: `Eve\u202E` }]),
    `reason \u202Etxt.exe`,
  );
  db.prepare(
    `INSERT INTO staged_changes (entra_id, cycle_id, kind, user_name, staged_at, held) VALUES (?, ?, 'disable', ?, ?, 1)`,
  ).run('00000000-0000-0000-0000-0000000000e1', cycle, HOSTILE, new Date().toISOString());
  db.prepare(
    `INSERT INTO pending_users (entra_id, failed_cycle, failures, last_error) VALUES (?, ?, 1, ?)`,
  ).run(
    '00000000-0000-0000-0000-0000000000e2',
    cycle,
    `userName "${HOSTILE}" already belongs to a local user`,
  );
  db.close();
});
afterAll(async () => {
  await emu.close();
});

describe('usage errors exit 2 with a message and run nothing', () => {
  const cases: [string[], RegExp][] = [
    [['audit', '--limit', '-1'], /--limit/],
    [['audit', '--limit', '0'], /--limit/],
    [['audit', '--limit', '123456789012345678901234567890'], /--limit/],
    [['audit', '--limit', '12abc'], /--limit/],
    [['audit', '--limit', '1.5'], /--limit/],
    [['audit', '--since', 'garbage'], /--since/],
    [['audit', '--since', '2024-13-45'], /--since/],
    [['audit', '--action', 'bogus'], /--action/],
    [['audit', '--cycle', 'bogus'], /--cycle/],
    [['retry'], /--user or --all/],
    [['retry', '--user', 'ana@contoso.com', '--all'], /--user or --all/],
    [['approve-deletions', '--cycle', 'bogus'], /--cycle/],
    [['approve-deletions', '--cycle', 'bogus', '--json'], /--cycle/],
    [['status', '--bogus'], /unknown option/],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), async () => {
      const before = counts();
      const r = await runCli(args, env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expect(counts()).toEqual(before);
    });
  }

  it('valid values still work: audit --limit 1 --action update --since a date', async () => {
    const r = await runCli(
      ['audit', '--json', '--limit', '1', '--action', 'update', '--since', '2020-01-01'],
      env,
    );
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { userName: string }[]).map((e) => e.userName)).toEqual([HOSTILE]);
  });
});

describe('read-only commands never create a store', () => {
  const commands = [
    ['status'],
    ['status', '--json'],
    ['audit'],
    ['users', 'export'],
    ['reject-deletions'],
    ['retry', '--all'],
  ];
  for (const args of commands) {
    it(`${args.join(' ')} at a mistyped path exits 2 naming ENTRASYNC_DB, and creates nothing`, async () => {
      const parent = tempDir();
      for (const path of [join(parent, 'store.db'), join(parent, 'missing', 'store.db')]) {
        const r = await runCli(args, { ...env, ENTRASYNC_DB: path });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`ENTRASYNC_DB: no store at ${path}`);
        expect(readdirSync(parent)).toEqual([]);
      }
    });
  }

  it('approve-deletions at a mistyped path exits 2 naming ENTRASYNC_DB, and creates nothing', async () => {
    const parent = tempDir();
    const path = join(parent, 'missing', 'store.db');
    const r = await runCli(['approve-deletions'], { ...env, ENTRASYNC_DB: path });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`ENTRASYNC_DB: no store at ${path}`);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('test-connection needs no store and creates none', async () => {
    const parent = tempDir();
    const r = await runCli(['test-connection', '--json'], {
      ...env,
      ENTRASYNC_DB: join(parent, 'data', 'store.db'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { ok: boolean }[]).every((c) => c.ok)).toBe(true);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('an empty file (created for the application beforehand) is no store yet: exit 1 saying so', async () => {
    const path = join(tempDir(), 'store.db');
    writeFileSync(path, '');
    for (const args of [['status'], ['audit'], ['users', 'export']]) {
      const r = await runCli(args, { ...env, ENTRASYNC_DB: path });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${path} holds no store yet: a sync creates it`);
    }
    expect(statSync(path).size).toBe(0);
  });

  it('status, audit and users export read a store while another connection writes to it', async () => {
    const writer = new Database(storePath);
    try {
      writer.exec('BEGIN IMMEDIATE');
      writer.prepare(`INSERT INTO users (user_name) VALUES ('local.writer@contoso.com')`).run();
      for (const args of [
        ['status', '--json'],
        ['audit', '--json'],
        ['users', 'export'],
      ]) {
        const r = await runCli(args, env);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).not.toContain('local.writer');
      }
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
    const exported = await runCli(['users', 'export'], env);
    expect((JSON.parse(exported.stdout) as unknown[]).length).toBe(3);
  });

  it('the read-only commands leave a closed store as they found it', async () => {
    const before = statSync(storePath);
    for (const args of [['status'], ['audit'], ['users', 'export']])
      expect((await runCli(args, env)).code).toBe(0);
    const after = statSync(storePath);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.size).toBe(before.size);
  });
});

describe('a dry run on a first-time setup', () => {
  for (const args of [
    ['sync', '--dry-run'],
    ['sync', '--dry-run', '--json'],
    ['resync', '--dry-run'],
  ]) {
    it(`${args.join(' ')} shows the first cycle and creates no store`, async () => {
      const parent = tempDir();
      const path = join(parent, 'data', 'store.db');
      const r = await runCli(args, { ...env, ENTRASYNC_DB: path });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('ana@contoso.com');
      expect(r.stdout).toMatch(/create/);
      expect(existsSync(join(parent, 'data'))).toBe(false);
      expect(readdirSync(parent)).toEqual([]);
    });
  }

  it('into an existing folder: still no file', async () => {
    const parent = tempDir();
    mkdirSync(join(parent, 'data'));
    const r = await runCli(['sync', '--dry-run', '--json'], {
      ...env,
      ENTRASYNC_DB: join(parent, 'data', 's.db'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { counts: { create: number } }).counts.create).toBe(3);
    expect(readdirSync(join(parent, 'data'))).toEqual([]);
  });
});

describe('human output escapes invisible and reordering characters', () => {
  it('audit', async () => {
    const r = await runCli(['audit'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW_CONTROLS);
    expect(r.stdout).toContain(
      'eve\\u{202E}gpj.exe\\u{200B}\\u{2066}x\\u{2069}\\u{85}\\u{9B}31m\\u{1B}[2J\\u{7}\\u{D}\\u{A}fake line',
    );
    expect(r.stdout).toContain('reason \\u{202E}txt.exe');
    expect(r.stdout).toContain('Eve\\u{202E}');
    // Nothing the user data carries starts a line of its own.
    expect(r.stdout.split('\n').some((l) => l.startsWith('fake line'))).toBe(false);
  });

  it('an error message that quotes user input', async () => {
    const r = await runCli(['mappings', 'preview', 'eve\u202Egpj.exe@contoso.com'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(RAW_CONTROLS);
    expect(r.stderr).toContain('eve\\u{202E}gpj.exe@contoso.com');
  });

  it('audit --json keeps the exact value', async () => {
    const r = await runCli(['audit', '--json', '--action', 'update'], env);
    expect((JSON.parse(r.stdout) as { userName: string }[])[0]!.userName).toBe(HOSTILE);
  });

  it('status: held changes and failing users', async () => {
    const r = await runCli(['status'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('HELD');
    expect(r.stdout).toContain('Failing users: 1');
    expect(r.stdout).not.toMatch(RAW_CONTROLS);
    expect(r.stdout.match(/eve\\u\{202E\}gpj\.exe/g)).toHaveLength(2);
  });

  it('provision trace and dry-run plan of a user whose name carries them', async () => {
    const u = emu.tenant.createUser({
      userPrincipalName: `mal\u202Elory\u200B@contoso.com`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
    const dry = await runCli(['sync', '--dry-run'], { ...env, ENTRASYNC_DB: join(tempDir(), 's.db') });
    expect(dry.stdout).toContain('mal\\u{202E}lory');
    const trace = await runCli(['provision', u.id], { ...env, ENTRASYNC_DB: join(tempDir(), 's.db') });
    expect(trace.stdout).toContain(u.id);
    for (const out of [dry.stdout, trace.stdout]) expect(out).not.toMatch(RAW_CONTROLS);
  });
});
