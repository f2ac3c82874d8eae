/**
 * The application holds the store's write lock for a long time: the daemon waits for it without
 * blocking its event loop. /healthz and /metrics keep answering, the wait shows in the log and the
 * metrics, SIGTERM still ends the process promptly, and the cycle completes once the lock is free.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../support/harness.js';
import { NEVER_DURING_TEST, fixture, type Fixture } from './fixture.js';
import { cycleFinished, metric, spawnCli, type Daemon, type LogLine } from './support.js';

let f: Fixture;
let holder: LockHolder | undefined;
beforeEach(async () => {
  f = await fixture(6);
});
afterEach(async () => {
  await holder?.release();
  holder = undefined;
  await f.close();
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LockHolder {
  child: ChildProcess;
  release(): Promise<void>;
}

/** The application: another process holding a write transaction until told to commit. */
async function holdWriteLock(dbPath: string): Promise<LockHolder> {
  const script =
    `const D = require('better-sqlite3'); const d = new D(${JSON.stringify(dbPath)});` +
    `d.exec('BEGIN IMMEDIATE'); d.exec('UPDATE users SET display_name = display_name');` +
    `process.stdout.write('locked\\n');` +
    `const end = () => { d.exec('COMMIT'); d.close(); process.exit(0); };` +
    `process.stdin.on('data', end); process.stdin.on('end', end); setTimeout(end, 60000);`;
  const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', () => reject(new Error('the lock holder ended before locking')));
  });
  let released = false;
  return {
    child,
    async release() {
      if (!released) child.stdin!.end('commit\n');
      released = true;
      await exited;
    },
  };
}

/** One GET that must answer within `limitMs`; returns how long it took and its body. */
async function timedGet(d: Daemon, path: string, limitMs = 1000): Promise<{ ms: number; body: string }> {
  const t0 = Date.now();
  const res = await fetch(`http://127.0.0.1:${d.port}${path}`, { signal: AbortSignal.timeout(limitMs) });
  const body = await res.text();
  expect(res.status).toBe(200);
  return { ms: Date.now() - t0, body };
}

const waitLine = (l: LogLine) => l.msg === "waiting for the store's write lock";
const dbPath = () => join(f.dir, 'store.db');
const displayName = (id: string) =>
  (
    f.store().db.prepare('SELECT display_name FROM users WHERE external_id = ?').get(id) as
      { display_name: string } | undefined
  )?.display_name;

describe('the application holds the write lock', () => {
  it('the daemon keeps answering /healthz and /metrics while a cycle waits, then the cycle completes', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: '*/3 * * * * *' });
    await d.waitFor(cycleFinished);
    holder = await holdWriteLock(dbPath());
    f.emu.tenant.updateUser(f.ids[0]!, { displayName: 'Renamed While Locked' });

    // A tick comes within 3 s and has to wait; poll the endpoints every 200 ms while it does.
    let sawWaiting = false;
    let slowest = 0;
    const until = Date.now() + 7000;
    while (Date.now() < until) {
      const health = await timedGet(d, '/healthz');
      const metrics = await timedGet(d, '/metrics');
      slowest = Math.max(slowest, health.ms, metrics.ms);
      if (metric(metrics.body, 'entrasync_store_lock_waiting') === 1) sawWaiting = true;
      await delay(200);
    }
    expect(slowest).toBeLessThan(1000);
    expect(sawWaiting).toBe(true);
    const warned = await d.waitFor(waitLine, 5000);
    expect(warned).toMatchObject({ level: 40 }); // pino's warn
    expect(typeof warned.operation).toBe('string');
    expect(Number(warned.waitedMs)).toBeGreaterThanOrEqual(1000);
    expect(displayName(f.ids[0]!)).not.toBe('Renamed While Locked');

    const finishedBefore = d.lines().filter(cycleFinished).length;
    await holder.release();
    const finished = await d.waitForCount(cycleFinished, finishedBefore + 1, 20_000);
    expect(finished.at(-1)).toMatchObject({ msg: 'cycle finished', status: 'succeeded' });
    expect(displayName(f.ids[0]!)).toBe('Renamed While Locked');
    const after = (await d.get('/metrics')).body;
    expect(metric(after, 'entrasync_store_lock_waiting')).toBe(0);
    expect(metric(after, 'entrasync_store_lock_wait_seconds_total')).toBeGreaterThan(3);
  });

  it('SIGTERM during the wait ends the daemon within 2 s; the cycle ends aborted, the next sync converges', async () => {
    expect((await runCli(['sync'], f.env)).code).toBe(0);
    f.emu.tenant.updateUser(f.ids[1]!, { displayName: 'Renamed Before Stop' });
    // Slow Graph answers: the lock is taken after the cycle has started and before it writes again.
    f.emu.tenant.setFaults({ latencyMs: 300 });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST, ENTRASYNC_SHUTDOWN_GRACE: '30' });
    await d.waitFor((l) => l.msg === 'cycle started');
    holder = await holdWriteLock(dbPath());
    await d.waitFor(waitLine, 15_000);
    expect((await timedGet(d, '/healthz')).ms).toBeLessThan(1000);

    const t0 = Date.now();
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(d.lines().some((l) => l.msg === 'cycle finished')).toBe(false);

    await holder.release();
    f.emu.tenant.clearFaults();
    const next = await runCli(['sync', '--json'], f.env);
    expect(next.code).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ status: 'succeeded' });
    const cycles = f.store().db.prepare('SELECT status FROM cycles ORDER BY started_at, rowid').all();
    // The initial sync, the daemon's cycle cut short by SIGTERM, the converging sync.
    expect(cycles).toEqual([{ status: 'succeeded' }, { status: 'aborted' }, { status: 'succeeded' }]);
    expect(f.store().db.prepare('SELECT * FROM locks').all()).toEqual([]);
    expect(displayName(f.ids[1]!)).toBe('Renamed Before Stop');
  });

  it('`entrasync sync` says it waits, and SIGTERM ends it at once; the next sync converges', async () => {
    expect((await runCli(['sync'], f.env)).code).toBe(0);
    f.emu.tenant.updateUser(f.ids[2]!, { displayName: 'Renamed For The CLI' });
    holder = await holdWriteLock(dbPath());
    const cli = spawnCli(['sync'], f.env);
    const said = () => JSON.stringify(cli.output()).includes("waiting for the store's write lock");
    for (const until = Date.now() + 15_000; !said(); await delay(100)) {
      if (Date.now() > until) throw new Error(`no wait reported: ${JSON.stringify(cli.output())}`);
    }
    const t0 = Date.now();
    cli.child.kill('SIGTERM');
    await cli.exit;
    expect(Date.now() - t0).toBeLessThan(1000);

    await holder.release();
    const next = await runCli(['sync', '--json'], f.env);
    expect(next.code).toBe(0);
    expect(displayName(f.ids[2]!)).toBe('Renamed For The CLI');
    expect(f.store().db.prepare('SELECT * FROM locks').all()).toEqual([]);
  });
});
