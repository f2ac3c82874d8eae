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
      msg: 'tick skipped: quarantined after repeated failures',
      quarantineReason: 'EncounteredQuarantineException',
      consecutiveFailures: 3,
      lastError: 'Graph unavailable',
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
