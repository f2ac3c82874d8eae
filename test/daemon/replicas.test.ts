/**
 * Several `entrasync run` replicas (real processes) on one PostgreSQL schema: one cycle at a time,
 * a killed leader replaced within the lease time plus a tick, and fencing: a leader paused past its
 * lease (SIGSTOP, then SIGCONT) or cut off from the database writes nothing once another replica has
 * taken over.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, tempDir, writeSettings } from '../support/harness.js';
import { testStore, type TestStore } from '../support/stores.js';
import { metric, startDaemon, type Daemon, type LogLine } from './support.js';

const TTL_SECONDS = 4;
const EVERY_2S = '*/2 * * * * *';
const USERS = 40;

let emu: RunningEmulator;
const ids: string[] = [];
const daemons: Daemon[] = [];

beforeAll(async () => {
  emu = await startTestEmulator({ pageSize: 5 });
  for (let i = 0; i < USERS; i++) {
    const u = emu.tenant.createUser({
      userPrincipalName: `r${String(i).padStart(2, '0')}@contoso.com`,
      displayName: `Replica ${i}`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
    ids.push(u.id);
  }
});
afterAll(async () => {
  await emu.close();
});
afterEach(async () => {
  emu.tenant.clearFaults();
  for (const d of daemons.splice(0)) {
    d.child.kill('SIGCONT');
    d.child.kill('SIGKILL');
    await d.exited;
  }
});

async function replicaSet(): Promise<{
  store: TestStore;
  start: (extra?: Record<string, string>) => Promise<Daemon>;
}> {
  const dir = tempDir();
  writeSettings(dir, { sync: { lockTtlSeconds: TTL_SECONDS } });
  const store = await testStore('postgres', dir);
  const env = emulatorEnv(emu, dir, {
    ENTRASYNC_DB: store.db,
    ENTRASYNC_SCHEDULE: EVERY_2S,
    ENTRASYNC_LOG_LEVEL: 'info',
  });
  return {
    store,
    start: async (extra = {}) => {
      const d = await startDaemon({ ...env, ...extra });
      daemons.push(d);
      return d;
    },
  };
}

const started = (l: LogLine) => l.msg === 'cycle started';
const finishedOk = (l: LogLine) => l.msg === 'cycle finished';

/** The replica whose cycle starts first (from now on), and that cycle's id. */
async function nextLeader(replicas: Daemon[], after: number[]): Promise<{ leader: Daemon; cycleId: string }> {
  return Promise.any(
    replicas.map(async (d, i) => {
      const line = (await d.waitForCount(started, after[i]! + 1, 30_000)).at(-1)!;
      return { leader: d, cycleId: String(line.cycleId) };
    }),
  );
}

describe('replicas on one PostgreSQL schema', () => {
  it('three replicas: one cycle at a time; the others skip their tick naming the holder; all answer with the shared state', async () => {
    const { store, start } = await replicaSet();
    const replicas = [await start(), await start(), await start()];
    // Enough ticks for all three to have tried at the same second several times: each tick is a
    // skip ("tick skipped: <why>") or a cycle of that replica's own.
    const ticked = (l: LogLine) => !!l.msg?.startsWith('tick skipped') || finishedOk(l);
    await Promise.all(replicas.map((d) => d.waitForCount(ticked, 4, 40_000)));
    const skipped = replicas.flatMap((d) =>
      d.lines().filter((l) => l.msg === 'tick skipped: another process is running a cycle'),
    );
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.every((l) => typeof l.holder === 'string' && /pid \d+/.test(l.holder as string))).toBe(
      true,
    );

    const cycles = await store.query<{ started_at: string; ended_at: string | null; status: string }>(
      'SELECT started_at, ended_at, status FROM t.cycles ORDER BY started_at',
    );
    expect(cycles.length).toBeGreaterThanOrEqual(2);
    // One at a time: each cycle ended before the next started. The schedule goes on, so the last
    // one may still be running (no end yet); every other one succeeded.
    for (let i = 1; i < cycles.length; i++)
      expect(cycles[i - 1]!.ended_at! <= cycles[i]!.started_at).toBe(true);
    const running = cycles.at(-1)!.status === 'running' ? 1 : 0;
    expect(cycles.slice(0, cycles.length - running).every((c) => c.status === 'succeeded')).toBe(true);
    expect(await store.users()).toHaveLength(USERS);

    let leaders = 0;
    for (const d of replicas) {
      expect((await d.get('/healthz')).status).toBe(200);
      expect((await d.get('/readyz')).status).toBe(200);
      const status = (await d.get('/status')).json<{ store: { kind: string }; users: { total: number } }>();
      expect(status).toMatchObject({ store: { kind: 'postgres' }, users: { total: USERS } });
      leaders += metric((await d.get('/metrics')).body, 'entrasync_leader') ?? NaN;
    }
    expect(leaders).toBeLessThanOrEqual(1);
  }, 120_000);

  it('the leader killed with SIGKILL mid-cycle: another replica runs the next cycle within the lease time plus a tick; the store converges', async () => {
    const { store, start } = await replicaSet();
    const replicas = [await start(), await start()];
    await Promise.any(replicas.map((d) => d.waitFor(finishedOk, 30_000)));
    for (let i = 0; i < 20; i++) emu.tenant.updateUser(ids[i]!, { displayName: `After Kill ${i}` });
    emu.tenant.setFaults({ latencyMs: 300 });
    const { leader, cycleId } = await nextLeader(
      replicas,
      replicas.map((d) => d.lines().filter(started).length),
    );
    await new Promise((r) => setTimeout(r, 700));
    const other = replicas.find((d) => d !== leader)!;
    const finishedBefore = other.lines().filter(finishedOk).length;
    leader.child.kill('SIGKILL');
    emu.tenant.clearFaults();
    // The lease runs out TTL_SECONDS after its last renewal; the next tick then takes it.
    await other.waitForCount(finishedOk, finishedBefore + 1, (TTL_SECONDS + 2) * 1000 + 15_000);
    const rows = await store.users();
    for (let i = 0; i < 20; i++)
      expect(rows.find((r) => r.external_id === ids[i])?.display_name).toBe(`After Kill ${i}`);
    // Nothing duplicated: each change audited once, whichever replica applied it.
    // Killed mid-cycle: the successor marked that cycle aborted.
    expect(leader.lines().some((l) => finishedOk(l) && l.cycleId === cycleId)).toBe(false);
    expect(await cycleRow(store, cycleId)).toMatchObject({ status: 'aborted' });
    const twice = await store.query(
      "SELECT entra_id FROM t.audit WHERE action = 'update' GROUP BY entra_id HAVING count(*) > 1",
    );
    expect(twice).toEqual([]);
  }, 120_000);

  it('fencing: a leader paused (SIGSTOP) past its lease and resumed (SIGCONT) after a takeover writes nothing more', async () => {
    const { store, start } = await replicaSet();
    const replicas = [await start(), await start()];
    await Promise.any(replicas.map((d) => d.waitFor(finishedOk, 30_000)));
    for (let i = 0; i < USERS; i++) emu.tenant.updateUser(ids[i]!, { displayName: `Fenced ${i}` });
    emu.tenant.setFaults({ latencyMs: 250 });
    const { leader, cycleId } = await nextLeader(
      replicas,
      replicas.map((d) => d.lines().filter(started).length),
    );
    await new Promise((r) => setTimeout(r, 600));
    const other = replicas.find((d) => d !== leader)!;
    leader.child.kill('SIGSTOP');
    // The other replica takes over once the paused leader's lease has run out.
    const takeover = await takeOver(store, other);
    leader.child.kill('SIGCONT');
    await expectFencedOff(store, leader, cycleId, takeover);
    const rows = await store.users();
    expect(rows.filter((r) => r.display_name?.startsWith('Fenced'))).toHaveLength(USERS);
  }, 120_000);

  it('fencing: a leader cut off from the database past its lease writes nothing once it is back', async () => {
    const { store, start } = await replicaSet();
    const proxy = await pausableProxy(new URL(store.db));
    const viaProxy = new URL(store.db);
    viaProxy.port = String(proxy.port);
    const cutOff = await start({ ENTRASYNC_DB: viaProxy.toString() });
    await cutOff.waitFor(finishedOk, 30_000);
    const other = await start();
    emu.tenant.setFaults({ latencyMs: 250 });
    // Wait until the proxied replica starts a cycle, and cut its network at once: the rest of that
    // cycle (its writes, its delta link) can only reach the database after the takeover.
    let cycleId: string;
    let round = 0;
    for (;;) {
      for (let i = 0; i < USERS; i++)
        emu.tenant.updateUser(ids[i]!, { displayName: `Partition ${i} ${round}` });
      const counts = [cutOff, other].map((d) => d.lines().filter(started).length);
      const { leader, cycleId: id } = await nextLeader([cutOff, other], counts);
      if (leader === cutOff) {
        proxy.pause();
        cycleId = id;
        break;
      }
      await other.waitFor((l) => finishedOk(l) && l.cycleId === id, 60_000);
      round++;
    }
    const takeover = await takeOver(store, other);
    proxy.resume();
    await expectFencedOff(store, cutOff, cycleId, takeover);
    await proxy.close();
  }, 180_000);
});

/** `other` starts its next cycle (the takeover) and finishes it; the Graph faults end then. */
async function takeOver(store: TestStore, other: Daemon): Promise<{ at: string; deltaLink?: string }> {
  const startedBefore = other.lines().filter(started).length;
  const cycle = (await other.waitForCount(started, startedBefore + 1, 30_000)).at(-1)!;
  const at = new Date().toISOString();
  await other.waitFor((l) => finishedOk(l) && l.cycleId === cycle.cycleId, 60_000);
  emu.tenant.clearFaults();
  return { at, deltaLink: await deltaLink(store) };
}

/** The stale leader's cycle, resumed after the takeover, fails and leaves nothing behind it. */
async function expectFencedOff(
  store: TestStore,
  stale: Daemon,
  cycleId: string,
  takeover: { at: string; deltaLink?: string },
): Promise<void> {
  const ended = await stale.waitFor(
    (l) => (l.msg === 'cycle failed' || l.msg === 'cycle finished') && l.cycleId === cycleId,
    60_000,
  );
  expect(ended.msg).toBe('cycle failed');
  // Its next write was refused by the fencing check (not merely noticed at the end of the cycle)...
  expect(String(ended.error)).toMatch(/lease \(token \d+\) is no longer held/);
  // ...and even its own cycle row is as the new leader left it: marked aborted, not written by it.
  expect(await cycleRow(store, cycleId)).toMatchObject({ status: 'aborted' });
  // Nothing of the stale cycle reached the store after the takeover, nor its delta link.
  const late = await store.query('SELECT seq FROM t.audit WHERE cycle_id = ? AND at >= ?', [
    cycleId,
    takeover.at,
  ]);
  expect(late).toEqual([]);
  expect(await deltaLink(store)).toBe(takeover.deltaLink);
  expect((await stale.get('/healthz')).status).toBe(200);
}

const cycleRow = async (store: TestStore, id: string) =>
  (await store.query<{ status: string }>('SELECT status FROM t.cycles WHERE id = ?', [id]))[0];

const deltaLink = async (store: TestStore) =>
  (await store.query<{ value: string }>("SELECT value FROM t.sync_state WHERE key = 'users_delta_link'"))[0]
    ?.value;

/**
 * A TCP proxy to the database that can stop passing bytes (a network partition: connections stay
 * open, nothing arrives) and pass them again.
 */
async function pausableProxy(
  target: URL,
): Promise<{ port: number; pause(): void; resume(): void; close(): Promise<void> }> {
  let paused = false;
  const pairs: [Socket, Socket][] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    pairs.push([client, upstream]);
    const pipe = (from: Socket, to: Socket) => {
      from.on('data', (chunk) => {
        if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => !paused && from.resume());
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    };
    pipe(client, upstream);
    pipe(upstream, client);
    if (paused) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    pause: () => {
      paused = true;
      for (const socket of pairs.flat()) socket.pause();
    },
    resume: () => {
      paused = false;
      for (const socket of pairs.flat()) socket.resume();
    },
    close: () =>
      new Promise((r) => {
        for (const socket of pairs.flat()) socket.destroy();
        server.close(() => r());
      }),
  };
}
