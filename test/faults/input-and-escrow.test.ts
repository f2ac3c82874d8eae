/** Bad input fails one user, never the cycle; failed users are retried with spacing; a locked store waits. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { toUserChange } from '../../src/source/users.js';
import { buildStatus } from '../../src/sync/status.js';
import { startTestEmulator } from '../support/emulator.js';
import { runCli, syncHarness, type SyncHarness } from '../support/harness.js';
import { STORE_KINDS, storeHarness, type StoreHarness } from '../support/stores.js';

let emu: RunningEmulator;
let h: SyncHarness | undefined;
/** The store-facing tests run on both stores. */
let sh: StoreHarness | undefined;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 4 });
});
afterEach(async () => {
  h?.close();
  await sh?.close();
  h = sh = undefined;
  await emu.close();
});

function assigned(upn: string, extra: Record<string, unknown> = {}) {
  const u = emu.tenant.createUser({
    userPrincipalName: upn,
    displayName: upn,
    accountEnabled: true,
    ...extra,
  });
  emu.tenant.assign(u.id, 'User');
  return u;
}

describe.each(STORE_KINDS)('malformed or surprising Graph data, on %s', (kind) => {
  it('rejects one user with an audit entry and never disables on it', async () => {
    const good = assigned('good@contoso.com');
    const control = assigned('ctrl@contoso.com', { displayName: 'bad\u0007name' });
    const huge = assigned('huge@contoso.com', { displayName: 'x'.repeat(5000) });
    const typed = assigned('typed@contoso.com', { accountEnabled: 'yes' });
    sh = await storeHarness(emu, kind);
    const r = await sh.sync();
    expect(r.status).toBe('succeeded');
    expect((await sh.rows()).map((x) => x.external_id)).toEqual([good.id]);
    const errors = await sh.rt.store.audit.query({ action: 'error' });
    expect(errors.map((e) => e.entraId).sort()).toEqual([control.id, huge.id, typed.id].sort());
    expect(errors.find((e) => e.entraId === control.id)!.reason).toMatch(/control characters/);
    expect(errors.find((e) => e.entraId === huge.id)!.reason).toMatch(/5000 characters/);

    // A linked user whose new data is unusable keeps its row as it was: no disable, no change.
    emu.tenant.updateUser(good.id, { displayName: 'ok\u0000' });
    const r2 = await sh.sync();
    expect(r2.status).toBe('succeeded');
    expect(await sh.row('good@contoso.com')).toMatchObject({ active: 1, display_name: 'good@contoso.com' });
  });

  it('a user whose userPrincipalName vanished fails alone', async () => {
    const a = assigned('a@contoso.com');
    assigned('b@contoso.com');
    sh = await storeHarness(emu, kind);
    emu.tenant.updateUser(a.id, { userPrincipalName: null });
    const r = await sh.sync();
    expect(r.status).toBe('succeeded');
    expect(r.counts).toMatchObject({ create: 1, error: 1 });
    expect((await sh.rt.store.audit.query({ action: 'error' }))[0]!.reason).toMatch(
      /userName mapping produced no value/,
    );
  });

  it('items without id, with an unknown @removed reason or of the wrong shape become invalid items', () => {
    expect(toUserChange({ displayName: 'x' })).toMatchObject({ kind: 'invalid', id: null });
    expect(toUserChange('nope')).toMatchObject({ kind: 'invalid' });
    const id = '0b1ae4d2-5049-4f05-9bcc-11aa7524c964';
    expect(toUserChange({ id, '@removed': { reason: 'archived' } })).toMatchObject({
      kind: 'invalid',
      id,
      problem: 'unknown @removed reason "archived"',
    });
    expect(toUserChange({ id, '@removed': { reason: 'deleted' } })).toEqual({
      kind: 'removed',
      id,
      reason: 'deleted',
    });
    expect(toUserChange({ id, mail: ['a', 1] })).toMatchObject({
      kind: 'invalid',
      problem: 'mail holds a non-string item',
    });
  });
});

describe.each(STORE_KINDS)('failed users (escrow), on %s', (kind) => {
  it('are retried in later cycles with growing spacing, listed in status, and retried at once on request', async () => {
    const owner = assigned('taken@contoso.com');
    const h = (sh = await storeHarness(emu, kind, {
      settings: {
        safety: {
          deletionThreshold: { enabled: true, count: 50, percent: 25 },
          retry: { baseSeconds: 3600, maxSeconds: 86400 },
        },
      },
    }));
    await h.sync();
    const clash = assigned('clash@contoso.com');
    emu.tenant.updateUser(clash.id, { userPrincipalName: 'TAKEN@contoso.com' });
    let r = await h.sync();
    expect(r.counts.error).toBe(1);

    let status = await buildStatus(h.rt.store);
    expect(status.failingUsers.count).toBe(1);
    const first = status.failingUsers.users[0]!;
    expect(first).toMatchObject({ entraId: clash.id, failures: 1 });
    const spacing = Date.parse(first.retryAfter!) - Date.now();
    expect(spacing).toBeGreaterThan(3500_000);
    expect(spacing).toBeLessThanOrEqual(3600_000);

    r = await h.sync(); // not due yet: not retried
    expect(r.counts.error).toBe(0);

    const retry = await runCli(['retry', '--all'], h.env);
    expect(retry.code).toBe(0);
    r = await h.sync();
    expect(r.counts.error).toBe(1);
    status = await buildStatus(h.rt.store);
    expect(status.failingUsers.users[0]!.failures).toBe(2);
    const second = Date.parse(status.failingUsers.users[0]!.retryAfter!) - Date.now();
    expect(second).toBeGreaterThan(7100_000); // doubled

    // The cause is fixed: the next retry succeeds and the user leaves the escrow.
    emu.tenant.updateUser(owner.id, { userPrincipalName: 'owner@contoso.com' });
    await h.sync();
    await runCli(['retry', '--user', clash.id], h.env);
    r = await h.sync();
    expect(r.counts.create).toBe(1);
    expect((await buildStatus(h.rt.store)).failingUsers.count).toBe(0);
    expect((await h.row('TAKEN@contoso.com'))?.external_id).toBe(clash.id);
  });
});

describe('a store locked by the application', () => {
  it('makes the cycle wait, then succeed', async () => {
    assigned('w1@contoso.com');
    assigned('w2@contoso.com');
    h = syncHarness(emu);
    await h.sync(); // creates the database
    assigned('w3@contoso.com');
    const dbPath = h.env.ENTRASYNC_DB!;
    // Another process holds a write transaction for 1.5 s, as an application might.
    const locker = spawn(
      process.execPath,
      [
        '-e',
        `const D=require('better-sqlite3');const d=new D(${JSON.stringify(dbPath)});d.exec('BEGIN IMMEDIATE');` +
          `d.exec("UPDATE users SET display_name = display_name");process.stdout.write('locked\\n');` +
          `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,1500);d.exec('COMMIT');`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => locker.once('exit', resolve));
    await new Promise<void>((resolve) => locker.stdout!.once('data', () => resolve()));
    const started = Date.now();
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(Date.now() - started).toBeGreaterThan(800);
    expect(h.rows()).toHaveLength(3);
    await exited;
  });
});
