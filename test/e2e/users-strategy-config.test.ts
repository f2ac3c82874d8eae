/**
 * ENTRASYNC_USERS_STRATEGY is a setting like any other: validated at start-up (a bad value names the
 * variable and exits 2 before anything is sent), and taken from the environment the configuration
 * is loaded from, not read from the process's environment in the middle of a cycle.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import {
  emulatorEnv,
  runCli,
  syncHarness,
  tempDir,
  writeSettings,
  type SyncHarness,
} from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness | undefined;
const saved = process.env.ENTRASYNC_USERS_STRATEGY;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
  delete process.env.ENTRASYNC_USERS_STRATEGY;
});
afterEach(async () => {
  h?.close();
  h = undefined;
  await emu.close();
  if (saved === undefined) delete process.env.ENTRASYNC_USERS_STRATEGY;
  else process.env.ENTRASYNC_USERS_STRATEGY = saved;
});

function usersDeltaRequests(): string[] {
  const paths = emu.tenant
    .requests()
    .map((r) => decodeURIComponent(r.path))
    .filter((p) => p.startsWith('/v1.0/users/delta'));
  emu.tenant.clearRequests();
  return paths;
}

/** One assigned user among eleven: `auto` reads it by id once the store knows its scope. */
function smallScope(): void {
  const a = createEnabledUser(emu, 'a@contoso.com');
  for (let i = 0; i < 10; i++) createEnabledUser(emu, `x${i}@contoso.com`);
  emu.tenant.assign(a.id, 'User');
}

describe('ENTRASYNC_USERS_STRATEGY', () => {
  it('is part of the configuration: auto by default, tenant or scoped when set', () => {
    const dir = tempDir();
    writeSettings(dir);
    const env = emulatorEnv(emu, dir);
    expect(loadConfig(env).usersStrategy).toBe('auto');
    expect(loadConfig({ ...env, ENTRASYNC_USERS_STRATEGY: 'tenant' }).usersStrategy).toBe('tenant');
    expect(loadConfig({ ...env, ENTRASYNC_USERS_STRATEGY: ' scoped ' }).usersStrategy).toBe('scoped');
    expect(loadConfig({ ...env, ENTRASYNC_USERS_STRATEGY: 'auto' }).usersStrategy).toBe('auto');
    for (const bad of ['Tenant', 'all', 'scope']) {
      expect(() => loadConfig({ ...env, ENTRASYNC_USERS_STRATEGY: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ ...env, ENTRASYNC_USERS_STRATEGY: bad }), bad).toThrow(
        /ENTRASYNC_USERS_STRATEGY: expected "auto", "tenant" or "scoped"/,
      );
    }
  });

  it('a bad value exits 2 naming the variable, before any request and without a store', async () => {
    const dir = tempDir();
    writeSettings(dir);
    const r = await runCli(['sync'], { ...emulatorEnv(emu, dir), ENTRASYNC_USERS_STRATEGY: 'scope' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'ENTRASYNC_USERS_STRATEGY: expected "auto", "tenant" or "scoped", got "scope"',
    );
    expect(emu.tenant.requests()).toEqual([]);
  });

  it('tenant, from the configuration, pages the tenant where auto would read by id', async () => {
    smallScope();
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'tenant' } });
    await h.sync();
    emu.tenant.clearRequests();
    const again = await h.sync({ forced: true });
    expect(again.status).toBe('succeeded');
    expect(h.rows().map((r) => r.user_name)).toEqual(['a@contoso.com']);
    const requests = usersDeltaRequests();
    expect(requests.length).toBeGreaterThan(3); // 11 users, 3 per page
    expect(requests.every((p) => !p.includes('$filter'))).toBe(true);
  });

  it('scoped, from the configuration, does not page the tenant even in the first cycle', async () => {
    smallScope();
    h = syncHarness(emu, { env: { ENTRASYNC_USERS_STRATEGY: 'scoped' } });
    emu.tenant.clearRequests();
    const first = await h.sync();
    expect(first.status).toBe('succeeded');
    expect(h.rows().map((r) => r.user_name)).toEqual(['a@contoso.com']);
    // No read-ahead of the tenant: a deltaLink for "now", then the one user by id.
    const requests = usersDeltaRequests();
    expect(requests).toHaveLength(2);
    expect(requests[0]).toContain('$deltatoken=latest');
    expect(requests[1]).toContain("id eq '");
  });

  it('the process environment of a running process does not change the strategy', async () => {
    smallScope();
    h = syncHarness(emu);
    await h.sync();
    process.env.ENTRASYNC_USERS_STRATEGY = 'tenant';
    emu.tenant.clearRequests();
    await h.sync({ forced: true });
    const requests = usersDeltaRequests();
    expect(requests).toHaveLength(2);
    expect(requests[1]).toContain("id eq '");
  });
});
