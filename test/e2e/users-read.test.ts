/**
 * How a cycle reads users (src/sync/users.ts): the whole tenant (`tenant`) or only the users that
 * matter, by id (`scoped`), and in both, users that enter scope without ever having been mirrored.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;
/** The harness's ENTRASYNC_USERS_STRATEGY, if any. */
let strategyEnv: Record<string, string> = {};

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
  strategyEnv = {};
});
afterEach(async () => {
  h?.close();
  await emu.close();
});

const user = (upn: string, extra: Record<string, unknown> = {}) => createEnabledUser(emu, upn, extra);

/** The users/delta requests of the last cycle, then forgets the log. */
function usersDeltaRequests(): string[] {
  const paths = emu.tenant
    .requests()
    .map((r) => decodeURIComponent(r.path))
    .filter((p) => p.startsWith('/v1.0/users/delta'));
  emu.tenant.clearRequests();
  return paths;
}

function mirrored(): string[] {
  return (
    h.rt.store.db.prepare('SELECT entra_id FROM source_users ORDER BY entra_id').pluck().all() as string[]
  ).sort();
}

describe.each(['tenant', 'scoped'] as const)('strategy %s', (strategy) => {
  beforeEach(() => {
    strategyEnv = { ENTRASYNC_USERS_STRATEGY: strategy };
  });

  it('provisions the assigned users and mirrors only the users that matter', async () => {
    const assigned = [user('a@contoso.com'), user('b@contoso.com')];
    const member = user('m@contoso.com');
    for (let i = 0; i < 10; i++) user(`other${i}@contoso.com`);
    for (const u of assigned) emu.tenant.assign(u.id, 'User');
    const group = emu.tenant.createGroup({ displayName: 'G', members: [member.id] });
    emu.tenant.assign(group.id, 'Group');
    h = syncHarness(emu, { env: strategyEnv });
    emu.tenant.clearRequests();

    const result = await h.sync();

    expect(result.status).toBe('succeeded');
    expect(h.rows().map((r) => r.user_name)).toEqual(['a@contoso.com', 'b@contoso.com', 'm@contoso.com']);
    expect(mirrored()).toEqual([...assigned.map((u) => u.id), member.id].sort());
    const requests = usersDeltaRequests();
    if (strategy === 'scoped') {
      // A deltaLink for "now", then the three users in one filtered read; the tenant is not paged.
      expect(requests).toHaveLength(2);
      expect(requests[0]).toContain('$deltatoken=latest');
      expect(requests[1]).toContain("id eq '");
    } else {
      expect(requests.length).toBeGreaterThan(4); // 15 users, 3 per page
      expect(requests.every((p) => !p.includes('$filter'))).toBe(true);
    }
  });

  it('reads a user that enters scope in full, even after changes it made out of scope', async () => {
    const inScope = user('in@contoso.com');
    const later = user('later@contoso.com', { mail: 'later@contoso.com', displayName: 'Later' });
    emu.tenant.assign(inScope.id, 'User');
    h = syncHarness(emu, { env: strategyEnv });
    await h.sync();
    expect(mirrored()).toEqual([inScope.id]);

    // A change while unassigned: return=minimal carries only displayName; it is not mirrored.
    emu.tenant.updateUser(later.id, { displayName: 'Later Renamed' });
    await h.sync();
    expect(mirrored()).toEqual([inScope.id]);

    // Assigned now: the user is read by id, whole, and created with every mapped attribute.
    emu.tenant.assign(later.id, 'User');
    emu.tenant.clearRequests();
    const result = await h.sync();
    expect(result.counts.create).toBe(1);
    expect(h.row('later@contoso.com')).toMatchObject({
      external_id: later.id,
      display_name: 'Later Renamed',
      email: 'later@contoso.com',
      active: 1,
    });
    const requests = usersDeltaRequests();
    expect(requests.filter((p) => p.includes(`id eq '${later.id}'`))).toHaveLength(1);
  });

  it('reads an assigned user that is restored from the recycle bin', async () => {
    const gone = user('gone@contoso.com');
    emu.tenant.assign(gone.id, 'User');
    emu.tenant.softDeleteUser(gone.id);
    h = syncHarness(emu, { env: strategyEnv });
    await h.sync();
    expect(h.rows()).toEqual([]);

    emu.tenant.restoreUser(gone.id);
    emu.tenant.assign(gone.id, 'User');
    const result = await h.sync();
    expect(result.counts.create).toBe(1);
    expect(h.row('gone@contoso.com')).toMatchObject({ external_id: gone.id, active: 1 });
  });

  it('keeps a linked user that left scope mirrored, and disables it', async () => {
    const leaver = user('leaver@contoso.com');
    emu.tenant.assign(leaver.id, 'User');
    h = syncHarness(emu, { env: strategyEnv });
    await h.sync();
    emu.tenant.unassign(leaver.id);
    const result = await h.sync();
    expect(result.counts.disable).toBe(1);
    expect(h.row('leaver@contoso.com')!.active).toBe(0);
    // A full round (resync) still reads it: it is linked.
    const again = await h.sync({ forced: true });
    expect(again.status).toBe('succeeded');
    expect(mirrored()).toEqual([leaver.id]);
  });

  it('resync reconciles a linked user that no longer exists', async () => {
    const keep = user('keep@contoso.com');
    const doomed = user('doomed@contoso.com');
    emu.tenant.assign(keep.id, 'User');
    emu.tenant.assign(doomed.id, 'User');
    h = syncHarness(emu, { env: strategyEnv });
    await h.sync();
    emu.tenant.hardDeleteUser(doomed.id);
    emu.tenant.expireDeltaTokens();
    const result = await h.sync({ forced: true });
    expect(result.status).toBe('succeeded');
    expect(result.counts.delete).toBe(1);
    expect(h.rows().map((r) => r.user_name)).toEqual(['keep@contoso.com']);
  });
});

describe('strategy scoped', () => {
  it('reads more than 50 users in several filtered requests', async () => {
    strategyEnv = { ENTRASYNC_USERS_STRATEGY: 'scoped' };
    for (let i = 0; i < 120; i++) {
      const u = user(`u${String(i).padStart(3, '0')}@contoso.com`);
      emu.tenant.assign(u.id, 'User');
    }
    for (let i = 0; i < 30; i++) user(`x${i}@contoso.com`);
    h = syncHarness(emu, { env: strategyEnv });
    emu.tenant.clearRequests();
    const result = await h.sync();
    expect(result.counts.create).toBe(120);
    const requests = usersDeltaRequests();
    expect(requests.filter((p) => p.includes('$filter'))).toHaveLength(3); // 50 + 50 + 20
    expect(requests.filter((p) => p.includes('$deltatoken=latest'))).toHaveLength(1);

    // The next cycle follows the tenant-wide deltaLink: one request when nothing changed.
    const quiet = await h.sync();
    expect(quiet.status).toBe('succeeded');
    expect(usersDeltaRequests()).toHaveLength(1);
  });

  it('is what auto chooses for a small scope', async () => {
    strategyEnv = {};
    const a = user('a@contoso.com');
    for (let i = 0; i < 10; i++) user(`x${i}@contoso.com`);
    emu.tenant.assign(a.id, 'User');
    h = syncHarness(emu, { env: strategyEnv });
    emu.tenant.clearRequests();
    const first = await h.sync();
    expect(first.counts.create).toBe(1);
    // The first cycle cannot know its scope before the listing is applied, so it starts paging the
    // tenant meanwhile (read-ahead) and drops those pages once auto chooses to read by id.
    const initial = usersDeltaRequests();
    expect(initial.filter((p) => p.includes('$deltatoken=latest'))).toHaveLength(1);
    expect(initial.filter((p) => p.includes('$filter'))).toHaveLength(1);
    expect(mirrored()).toEqual([a.id]);

    // Once the store knows its scope, a full round reads by id and nothing else.
    const again = await h.sync({ forced: true });
    expect(again.status).toBe('succeeded');
    expect(usersDeltaRequests()).toHaveLength(2);
    expect(mirrored()).toEqual([a.id]);
  });
});

describe('strategy scoped, killed mid-cycle', () => {
  it('converges after SIGKILLs during reads by id: every assigned user exactly once', async () => {
    const { spawn } = await import('node:child_process');
    const { CLI, ROOT, runCli } = await import('../support/harness.js');
    const assigned: string[] = [];
    for (let i = 0; i < 300; i++) {
      const u = user(`k${String(i).padStart(3, '0')}@contoso.com`);
      if (i % 3 !== 2) {
        emu.tenant.assign(u.id, 'User');
        assigned.push(u.id);
      }
    }
    h = syncHarness(emu);
    const env = { ...h.env, ENTRASYNC_LOG_LEVEL: 'info', ENTRASYNC_USERS_STRATEGY: 'scoped' };
    emu.tenant.setFaults({ latencyMs: 25 }); // 4 reads of 50 in flight: the reads take ~100 ms
    const killAfter = (ms: number) =>
      new Promise<void>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'sync'], {
          cwd: ROOT,
          env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        let timer: NodeJS.Timeout | undefined;
        child.stdout.on('data', (chunk: Buffer) => {
          if (!timer && chunk.toString().includes('"cycle started"'))
            timer = setTimeout(() => child.kill('SIGKILL'), ms);
        });
        child.on('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    for (const ms of [40, 120, 80, 160, 20, 200]) await killAfter(ms);
    expect((await runCli(['sync'], env)).code).toBe(0);
    expect(
      h
        .rows()
        .map((r) => r.external_id)
        .sort(),
    ).toEqual([...assigned].sort());
    const creates = h.rt.store.tables.audit.query({ action: 'create', limit: 10_000 });
    expect(creates).toHaveLength(assigned.length);
    expect(h.rt.store.tables.pending.count()).toBe(0);
    const aborted = h.rt.store.tables.cycles.recent(20).filter((c) => c.status === 'aborted');
    expect(aborted.length).toBeGreaterThanOrEqual(3); // the kills landed inside cycles
  });
});
