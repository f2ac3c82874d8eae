/**
 * One suite, both stores: every command through the built CLI against the emulator, with SQLite and
 * with PostgreSQL (the test run's real server), asserting the final state as the application reads
 * it with plain SQL. Faults too: a SIGKILL in the middle of a cycle, Graph failing mid-round, and on
 * PostgreSQL the database connection cut under a running cycle.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { CLI, emulatorEnv, ROOT, runCli, tempDir, writeSettings } from '../support/harness.js';
import { entrasyncBackends, terminateBackends } from '../support/postgres.js';
import { STORE_KINDS, testStore, type TestStore } from '../support/stores.js';

describe.each(STORE_KINDS)('every command on %s', (kind) => {
  let emu: RunningEmulator;
  let store: TestStore;
  let env: Record<string, string>;
  /** The database password (PostgreSQL): no output may contain it. */
  let password = '';
  const ids: string[] = [];
  const sync = async (...args: string[]) => {
    const r = await runCli(['sync', '--json', ...args], env);
    if (password) expect(r.stdout + r.stderr).not.toContain(password);
    return { ...r, result: r.code === 0 || r.code === 1 ? JSON.parse(r.stdout || '{}') : null };
  };
  const names = async () => (await store.users()).map((u) => `${u.user_name}:${u.active}`);
  const auditCount = async (action: string) =>
    (
      await store.query<{ n: number }>(
        'SELECT CAST(count(*) AS INTEGER) AS n FROM t.audit WHERE action = ?',
        [action],
      )
    )[0]!.n;

  beforeAll(async () => {
    emu = await startTestEmulator({ pageSize: 7 });
    for (let i = 0; i < 30; i++) {
      const u = emu.tenant.createUser({
        userPrincipalName: `u${String(i).padStart(2, '0')}@contoso.com`,
        displayName: `User ${i}`,
        mail: `u${String(i).padStart(2, '0')}@contoso.com`,
        accountEnabled: true,
      });
      if (i < 25) emu.tenant.assign(u.id, 'User');
      ids.push(u.id);
    }
    const dir = tempDir();
    store = await testStore(kind, dir);
    writeSettings(dir, { safety: { deletionThreshold: { enabled: true, count: 3, percent: null } } });
    env = emulatorEnv(emu, dir, { ENTRASYNC_DB: store.db, ENTRASYNC_LOG_LEVEL: 'info' });
    if (kind === 'postgres') password = decodeURIComponent(new URL(store.db).password);
  });
  afterAll(async () => {
    await store.close();
    await emu.close();
  });

  it('a read command before the first sync: exit 2 naming ENTRASYNC_DB, nothing created', async () => {
    const r = await runCli(['status'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ENTRASYNC_DB: no store at/);
    if (kind === 'postgres')
      expect(
        await store.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'entrasync'"),
      ).toEqual([]);
  });

  it('sync --dry-run lists the creates and writes nothing', async () => {
    const r = await runCli(['sync', '--dry-run'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/create/);
    if (kind === 'postgres')
      expect(
        await store.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'entrasync'"),
      ).toEqual([]);
  });

  it('sync creates the assigned users; status, audit and users export read them', async () => {
    const { code, result } = await sync();
    expect(code).toBe(0);
    expect(result).toMatchObject({ kind: 'initial', status: 'succeeded', counts: { create: 25 } });
    const rows = await store.users();
    expect(rows).toHaveLength(25);
    expect(rows.every((r) => r.active === 1 && r.external_id !== null)).toBe(true);
    expect(await auditCount('create')).toBe(25);

    const statusRun = await runCli(['status', '--json'], env);
    const status = JSON.parse(statusRun.stdout);
    expect(status).toMatchObject({ store: { kind, leader: null }, users: { total: 25, linked: 25 } });
    if (password) {
      expect(password.length).toBeGreaterThan(8);
      expect(statusRun.stdout + statusRun.stderr).not.toContain(password);
      const audit = await store.query<{ reason: string | null }>('SELECT reason FROM t.audit');
      expect(JSON.stringify(audit)).not.toContain(password);
    }
    const audit = JSON.parse(
      (await runCli(['audit', '--json', '--action', 'create', '--limit', '100'], env)).stdout,
    );
    expect(audit).toHaveLength(25);
    const exported = JSON.parse((await runCli(['users', 'export'], env)).stdout) as { userName: string }[];
    expect(exported.map((u) => u.userName)).toEqual(rows.map((r) => r.user_name));
  });

  it('an incremental cycle takes an update, an unassignment (disable) and a purge (delete)', async () => {
    emu.tenant.updateUser(ids[0]!, { displayName: 'Renamed Zero' });
    emu.tenant.unassign(ids[1]!);
    emu.tenant.softDeleteUser(ids[2]!);
    emu.tenant.hardDeleteUser(ids[2]!);
    const { result } = await sync();
    expect(result).toMatchObject({
      kind: 'incremental',
      status: 'succeeded',
      counts: { update: 1, disable: 1, delete: 1 },
    });
    const rows = await store.users();
    expect(rows.find((r) => r.external_id === ids[0])?.display_name).toBe('Renamed Zero');
    expect(rows.find((r) => r.external_id === ids[1])?.active).toBe(0);
    expect(rows.some((r) => r.external_id === ids[2])).toBe(false);
    // A change is audited once, however many cycles ran.
    expect(await sync()).toMatchObject({ code: 0, result: { counts: { update: 0, disable: 0, delete: 0 } } });
    expect(await auditCount('delete')).toBe(1);
  });

  it('sync --dry-run on an existing store writes nothing', async () => {
    emu.tenant.updateUser(ids[3]!, { displayName: 'Dry Three' });
    const before = await names();
    const audits = (
      await store.query<{ n: number }>('SELECT CAST(count(*) AS INTEGER) AS n FROM t.audit')
    )[0]!.n;
    const r = await runCli(['sync', '--dry-run'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/update/);
    expect(await names()).toEqual(before);
    expect(
      (await store.query<{ n: number }>('SELECT CAST(count(*) AS INTEGER) AS n FROM t.audit'))[0]!.n,
    ).toBe(audits);
    await sync();
  });

  it('the deletion threshold holds; reject-deletions, then approve-deletions applies what still holds', async () => {
    for (const id of ids.slice(4, 9)) emu.tenant.unassign(id);
    const held = await sync();
    expect(held.result).toMatchObject({ status: 'succeeded', counts: { disable: 0, staged: 5 } });
    expect(JSON.parse((await runCli(['status', '--json'], env)).stdout).deletions).toMatchObject({
      held: true,
      count: 5,
    });
    expect((await runCli(['reject-deletions'], env)).stdout).toMatch(/Rejected 5 held changes/);
    for (const id of ids.slice(4, 6)) emu.tenant.assign(id, 'User'); // two causes fixed
    const approved = await runCli(['approve-deletions', '--json'], env);
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ disabled: 3, stillHeld: 0 });
    const rows = await store.users();
    for (const id of ids.slice(4, 6)) expect(rows.find((r) => r.external_id === id)?.active).toBe(1);
    for (const id of ids.slice(6, 9)) expect(rows.find((r) => r.external_id === id)?.active).toBe(0);
  });

  it('provision on demand creates one user now', async () => {
    emu.tenant.assign(ids[26]!, 'User');
    const r = await runCli(['provision', 'u26@contoso.com', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ action: 'create' });
    expect((await store.users()).find((u) => u.external_id === ids[26])).toMatchObject({ active: 1 });
  });

  it('a user the store rejects fails alone; retry --all makes it due; resync converges', async () => {
    // An application row holds the userName Entra is about to give another user.
    await store.query("INSERT INTO t.users (user_name) VALUES ('u27@contoso.com')");
    await store.query("UPDATE t.users SET linkable = 0 WHERE user_name = 'u27@contoso.com'");
    emu.tenant.assign(ids[27]!, 'User');
    const { result } = await sync();
    expect(result).toMatchObject({ status: 'succeeded', counts: { error: 1 } });
    const failing = JSON.parse((await runCli(['status', '--json'], env)).stdout).failingUsers;
    expect(failing.count).toBe(1);
    expect((await runCli(['retry', '--all'], env)).stdout).toMatch(/1 failing users will be retried/);
    await store.query("DELETE FROM t.users WHERE user_name = 'u27@contoso.com' AND external_id IS NULL");
    expect((await sync()).result).toMatchObject({ counts: { create: 1, error: 0 } });
    const resync = await runCli(['resync', '--json'], env);
    expect(JSON.parse(resync.stdout)).toMatchObject({
      kind: 'forced',
      status: 'succeeded',
      counts: { create: 0, update: 0 },
    });
  });

  it('SIGKILL in the middle of a cycle: the next cycle converges, each change audited once', async () => {
    for (let i = 10; i < 20; i++) emu.tenant.updateUser(ids[i]!, { displayName: `Killed ${i}` });
    emu.tenant.setFaults({ latencyMs: 150 });
    const child = spawn(process.execPath, [CLI, 'sync'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('"cycle started"')) setTimeout(() => child.kill('SIGKILL'), 400);
      });
      child.on('close', () => resolve());
    });
    emu.tenant.clearFaults();
    expect((await sync()).result).toMatchObject({ status: 'succeeded' });
    const rows = await store.users();
    for (let i = 10; i < 20; i++)
      expect(rows.find((r) => r.external_id === ids[i])?.display_name).toBe(`Killed ${i}`);
    const updates = await store.query<{ entra_id: string; n: number }>(
      "SELECT entra_id, CAST(count(*) AS INTEGER) AS n FROM t.audit WHERE action = 'update' AND reason IS NULL GROUP BY entra_id HAVING count(*) > 2",
    );
    expect(updates).toEqual([]);
    const status = JSON.parse((await runCli(['status', '--json'], env)).stdout);
    expect(status.store.leader).toBeNull();
  });

  it('Graph failing mid-round: the cycle fails; store and delta state stay as they were, then converge', async () => {
    const link = async () =>
      (
        await store.query<{ value: string }>("SELECT value FROM t.sync_state WHERE key = 'users_delta_link'")
      )[0]?.value;
    const before = await link();
    for (let i = 20; i < 25; i++) emu.tenant.updateUser(ids[i]!, { displayName: `Outage ${i}` });
    emu.tenant.setFaults({
      throttle: { status: 503, retryAfter: null, count: 1000, pathPrefix: '/v1.0/users' },
    });
    const failed = await sync();
    expect(failed.code).toBe(1);
    expect(await link()).toBe(before);
    emu.tenant.clearFaults();
    expect((await sync()).result).toMatchObject({ status: 'succeeded' });
    expect((await store.users()).filter((r) => r.display_name?.startsWith('Outage'))).toHaveLength(5);
  });

  it.runIf(kind === 'postgres')(
    'the database connection cut under a running cycle: it fails or recovers, never half-written',
    async () => {
      for (let i = 10; i < 20; i++) emu.tenant.updateUser(ids[i]!, { displayName: `Cut ${i}` });
      emu.tenant.setFaults({ latencyMs: 100 });
      const running = sync();
      await new Promise((r) => setTimeout(r, 900));
      await terminateBackends(await entrasyncBackends(store.db));
      const first = await running;
      emu.tenant.clearFaults();
      if (first.code !== 0) expect((await sync()).result).toMatchObject({ status: 'succeeded' });
      const rows = await store.users();
      for (let i = 10; i < 20; i++)
        expect(rows.find((r) => r.external_id === ids[i])?.display_name).toBe(`Cut ${i}`);
      expect(JSON.parse((await runCli(['status', '--json'], env)).stdout).store.leader).toBeNull();
    },
  );

  it.runIf(kind === 'postgres')(
    'ENTRASYNC_DB_SCHEMA names the schema; a schema of a newer version is refused with exit 2',
    async () => {
      const other = { ...env, ENTRASYNC_DB_SCHEMA: 'app_users' };
      expect((await runCli(['sync'], other)).code).toBe(0);
      const rows = await store.query<{ n: number }>(
        'SELECT CAST(count(*) AS INTEGER) AS n FROM app_users.users',
      );
      expect(rows[0]!.n).toBeGreaterThan(0);
      await store.query('UPDATE app_users.schema_version SET version = 99');
      for (const command of [['sync'], ['status']]) {
        const r = await runCli(command, other);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/ENTRASYNC_DB_SCHEMA: schema "app_users" has version 99/);
      }
      const bad = await runCli(['status'], { ...env, ENTRASYNC_DB_SCHEMA: 'Bad-Name' });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/ENTRASYNC_DB_SCHEMA/);
    },
  );
});
