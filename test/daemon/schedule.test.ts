/**
 * `entrasync run` (the built CLI, a child process) against an in-process emulator: the start cycle,
 * the cron schedule, and ticks that find a cycle running here or in another process.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVERY_SECOND, NEVER_DURING_TEST, fixture, type Fixture } from './fixture.js';
import { cycleFinished, metric, spawnCli, type LogLine } from './support.js';

let f: Fixture;
beforeEach(async () => {
  f = await fixture(20);
});
afterEach(() => f.close());

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface CycleRow {
  id: string;
  kind: string;
  status: string;
  started_at: string;
  ended_at: string | null;
}

function cycles(): CycleRow[] {
  return f.store().db.prepare('SELECT * FROM cycles ORDER BY started_at, rowid').all() as CycleRow[];
}

function expectNoOverlap(rows: CycleRow[]): void {
  for (let i = 1; i < rows.length; i++) expect(rows[i]!.started_at >= rows[i - 1]!.ended_at!).toBe(true);
}

describe('scheduling', () => {
  it('runs a cycle at start without waiting for the schedule', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST, ENTRASYNC_TIMEZONE: 'Europe/Berlin' });
    const started = d.lines().find((l) => l.msg === 'daemon started')!;
    expect(started).toMatchObject({ schedule: NEVER_DURING_TEST, timezone: 'Europe/Berlin' });
    // Midnight of 1 January in Berlin is 23:00Z of 31 December.
    expect(String(started.nextRun)).toMatch(/-12-31T23:00:00.000Z$/);
    const first = await d.waitFor(cycleFinished);
    expect(first).toMatchObject({ kind: 'initial', status: 'succeeded' });
    expect(Date.parse(String(first.time)) - Date.parse(String(started.time))).toBeLessThan(5000);
    await delay(1500);
    expect(cycles()).toHaveLength(1);
    expect((f.store().db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n).toBe(20);
    expect(await d.stop()).toBe(0);
  });

  it('then runs a cycle on every tick, each continuing from the delta state of the last', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: EVERY_SECOND });
    await d.waitFor((l) => cycleFinished(l) && l.kind === 'initial');
    f.emu.tenant.updateUser(f.ids[3]!, { displayName: 'Renamed On Schedule' });
    const update = await d.waitFor(
      (l) => cycleFinished(l) && (l.counts as Record<string, number>).update === 1,
      10_000,
    );
    expect(update).toMatchObject({ kind: 'incremental', status: 'succeeded' });
    await d.waitForCount(cycleFinished, 4, 10_000);
    expect(await d.stop()).toBe(0);
    const rows = cycles();
    expect(rows[0]!.kind).toBe('initial');
    expect(rows.slice(1).every((c) => c.kind === 'incremental' && c.status === 'succeeded')).toBe(true);
    // One cycle per tick: the starts are at least about a second apart.
    for (let i = 2; i < rows.length; i++) {
      expect(Date.parse(rows[i]!.started_at) - Date.parse(rows[i - 1]!.started_at)).toBeGreaterThan(900);
    }
    const row = f.store().db.prepare('SELECT display_name FROM users WHERE external_id = ?').get(f.ids[3]);
    expect(row).toEqual({ display_name: 'Renamed On Schedule' });
  });

  it('skips a tick that finds its own cycle still running', async () => {
    f.emu.tenant.setFaults({ latencyMs: 300 });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: EVERY_SECOND });
    const skipped = await d.waitFor((l) => l.reason === 'busy', 10_000);
    expect(skipped).toMatchObject({
      trigger: 'schedule',
      msg: 'tick skipped: a cycle of this daemon is still running',
    });
    await d.waitFor(cycleFinished, 20_000);
    const metrics = (await d.get('/metrics')).body;
    expect(metric(metrics, 'entrasync_ticks_skipped_total', { reason: 'busy' })).toBeGreaterThanOrEqual(1);
    f.emu.tenant.clearFaults();
    expect(await d.stop()).toBe(0);
    expectNoOverlap(cycles());
  });

  it('skips ticks while a `sync` in another process holds the lease, then continues from its state', async () => {
    f.emu.tenant.setFaults({ latencyMs: 300 });
    const cli = spawnCli(['sync'], f.env);
    await cli.waitForOutput('"cycle started"');
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: EVERY_SECOND });
    const first = await d.waitFor((l) => l.reason === 'lease');
    expect(first).toMatchObject({
      trigger: 'start',
      msg: 'tick skipped: another process is running a cycle',
    });
    expect(String(first.holder)).toContain(`pid ${cli.child.pid} `);
    await d.waitForCount((l) => l.reason === 'lease', 2, 10_000);
    expect(await cli.exit).toBe(0);
    f.emu.tenant.clearFaults();
    const own = await d.waitFor(cycleFinished, 10_000);
    // The CLI's cycle was the initial one; the daemon's continues from its delta link.
    expect(own).toMatchObject({ kind: 'incremental', status: 'succeeded' });
    expect(await d.stop()).toBe(0);
    const rows = cycles();
    expect(rows.map((c) => c.kind).slice(0, 2)).toEqual(['initial', 'incremental']);
    expectNoOverlap(rows);
  });

  it('`entrasync resync` during a daemon cycle waits for it, then runs; the next tick continues from there', async () => {
    f.emu.tenant.setFaults({ latencyMs: 500 });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: '*/2 * * * * *' });
    await d.waitFor((l) => l.msg === 'cycle started');
    const resync = spawnCli(['resync'], f.env);
    await resync.waitForOutput('another cycle is running; waiting for it to finish');
    // It waits; the rest may go fast.
    f.emu.tenant.clearFaults();
    expect(await resync.exit).toBe(0);
    const forced = cycles().find((c) => c.kind === 'forced')!;
    expect(forced.status).toBe('succeeded');
    const before = cycles().filter((c) => c.started_at < forced.started_at);
    expect(before[0]).toMatchObject({ kind: 'initial', status: 'succeeded' });

    f.emu.tenant.updateUser(f.ids[0]!, { displayName: 'After The Resync' });
    const next: LogLine = await d.waitFor(
      (l) => cycleFinished(l) && Date.parse(String(l.time)) > Date.parse(forced.ended_at!),
      10_000,
    );
    expect(next).toMatchObject({ kind: 'incremental', status: 'succeeded' });
    expect((next.counts as Record<string, number>).update).toBe(1);
    expect(await d.stop()).toBe(0);
    expectNoOverlap(cycles());
  });
});
