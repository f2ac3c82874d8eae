/**
 * Quarantine: after repeated failed cycles the daemon's ticks back off (src/safety/quarantine.ts);
 * an operator's `entrasync sync` is never held back and its success lifts the quarantine.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/harness.js';
import { EVERY_SECOND, NEVER_DURING_TEST, fixture, type Fixture } from './fixture.js';
import { cycleFinished, metric } from './support.js';

let f: Fixture;
beforeEach(async () => {
  f = await fixture(5);
});
afterEach(() => f.close());

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** History as the daemon would have left it: `n` failed scheduled cycles, the last `agoMs` ago. */
function failedCycles(n: number, agoMs: number): void {
  const insert = f.store().db.prepare(
    `INSERT INTO cycles (id, kind, dry_run, started_at, ended_at, status, error)
       VALUES (?, 'incremental', 0, ?, ?, 'failed', 'Graph unavailable')`,
  );
  for (let i = n - 1; i >= 0; i--) {
    const end = Date.now() - agoMs - i * 3600_000;
    insert.run(randomUUID(), new Date(end - 1000).toISOString(), new Date(end).toISOString());
  }
}
const cycleCount = () => (f.store().db.prepare('SELECT count(*) AS n FROM cycles').get() as { n: number }).n;

describe('quarantine', () => {
  it('skips ticks while quarantined; an operator sync runs anyway and lifts it', async () => {
    failedCycles(3, 60_000);
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: EVERY_SECOND });
    const first = await d.waitFor((l) => l.reason === 'quarantine');
    expect(first).toMatchObject({
      trigger: 'start',
      level: 40,
      msg: expect.stringMatching(
        /^tick skipped: quarantined after 3 failed cycles in a row \(EncounteredQuarantineException, started by a unknown failure\); next scheduled attempt at \S+; run `entrasync sync` to lift it/,
      ),
      quarantineReason: 'EncounteredQuarantineException',
      consecutiveFailures: 3,
      lastError: 'Graph unavailable',
      // Rows recorded before entrasync kept failure classes.
      startedByFailureClass: 'unknown',
    });
    expect(Date.parse(String(first.nextAttemptAt))).toBeGreaterThan(Date.now() + 3000_000);
    await d.waitForCount((l) => l.reason === 'quarantine', 3, 10_000);
    expect(cycleCount()).toBe(3);
    const status = (await d.get('/status')).json<{ quarantine: { quarantined: boolean } }>();
    expect(status.quarantine.quarantined).toBe(true);
    const m = (await d.get('/metrics')).body;
    expect(metric(m, 'entrasync_quarantined')).toBe(1);
    expect(metric(m, 'entrasync_ticks_skipped_total', { reason: 'quarantine' })).toBeGreaterThanOrEqual(3);
    expect((await d.get('/readyz')).status).toBe(503);

    expect((await runCli(['sync'], f.env)).code).toBe(0);
    const own = await d.waitFor(cycleFinished, 10_000);
    expect(own).toMatchObject({ kind: 'incremental', status: 'succeeded' });
    expect((await d.get('/readyz')).status).toBe(200);
    expect(await d.stop()).toBe(0);
  });

  it('runs again once the backoff has passed', async () => {
    // Three failures: the next scheduled attempt is two hours after the last one.
    failedCycles(3, 2 * 3600_000 + 60_000);
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    expect(await d.waitFor(cycleFinished)).toMatchObject({ status: 'succeeded' });
    await delay(200);
    expect(d.lines().some((l) => l.reason === 'quarantine')).toBe(false);
    expect(await d.stop()).toBe(0);
  });
});

describe('revoked access tokens under the daemon', () => {
  it('revoked before each of several cycles and during a slow one: every cycle succeeds, no quarantine', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: EVERY_SECOND });
    await d.waitFor((l) => cycleFinished(l) && l.kind === 'initial');
    const updated = (l: Record<string, unknown>) =>
      cycleFinished(l) && (l.counts as Record<string, number> | undefined)?.update === 1;
    for (let round = 0; round < 4; round++) {
      f.emu.tenant.updateUser(f.ids[round]!, { displayName: `Renamed After Revocation ${round}` });
      f.emu.tenant.revokeTokens();
      await d.waitForCount(updated, round + 1, 15_000);
    }
    // A slow cycle (300 ms per Graph request), tokens revoked while it runs.
    f.emu.tenant.setFaults({ latencyMs: 300 });
    f.emu.tenant.updateUser(f.ids[4]!, { displayName: 'Renamed During Revocation' });
    const startedBefore = d.lines().filter((l) => l.msg === 'cycle started').length;
    await d.waitForCount((l) => l.msg === 'cycle started', startedBefore + 1, 10_000);
    await delay(450);
    f.emu.tenant.revokeTokens();
    const slow = (await d.waitForCount(updated, 5, 20_000))[4]!;
    f.emu.tenant.clearFaults();
    // The revocation met that cycle in flight: a fresh token was fetched inside it.
    const slowStart = d.lines().filter((l) => l.msg === 'cycle started')[startedBefore]!;
    expect(slowStart.cycleId).toBe(slow.cycleId);
    const at = (l: Record<string, unknown>) => Date.parse(String(l.time));
    const during = (l: Record<string, unknown>) => at(l) >= at(slowStart) && at(l) <= at(slow);
    const refreshedInside = d
      .lines()
      .filter((l) => l.msg === 'Graph rejected the access token; requesting a fresh one' && during(l));
    expect(refreshedInside.length).toBeGreaterThanOrEqual(1);

    const rejected = f.emu.tenant.requests().filter((r) => r.path.startsWith('/v1.0/') && r.status === 401);
    expect(rejected.length).toBeGreaterThanOrEqual(5);
    const names = f
      .store()
      .db.prepare('SELECT display_name FROM users WHERE display_name LIKE ? ORDER BY display_name')
      .all('Renamed%') as { display_name: string }[];
    expect(names).toHaveLength(5);
    const statuses = f.store().db.prepare('SELECT DISTINCT status FROM cycles').all() as { status: string }[];
    expect(statuses).toEqual([{ status: 'succeeded' }]);
    const status = (await d.get('/status')).json<{
      quarantine: { quarantined: boolean; consecutiveFailures: number };
    }>();
    expect(status.quarantine).toMatchObject({ quarantined: false, consecutiveFailures: 0 });
    const m = (await d.get('/metrics')).body;
    expect(metric(m, 'entrasync_graph_token_refreshes_total')).toBeGreaterThanOrEqual(5);
    expect(metric(m, 'entrasync_cycles_total', { result: 'failed', kind: 'incremental' })).toBe(0);
    expect(await d.stop()).toBe(0);
  });
});
