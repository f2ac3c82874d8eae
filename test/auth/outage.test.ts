/**
 * A token endpoint that is down: retried with backoff and reported; a cycle that cannot get a token
 * fails like any other, and the daemon keeps running and recovers on its own, never crash-loops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialError } from '../../src/auth/index.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';
import { fixture, type Fixture } from '../daemon/fixture.js';
import { cycleFinished } from '../daemon/support.js';

let f: Fixture;
let h: SyncHarness | undefined;
afterEach(async () => {
  h?.close();
  h = undefined;
  await f.close();
});

describe('token endpoint outage', () => {
  it('a short outage is retried with growing delays and the cycle succeeds', async () => {
    f = await fixture(4);
    f.emu.tenant.setFaults({ token: { count: 3, status: 503 } });
    h = syncHarness(f.emu);
    const r = await h.sync();
    expect(r.status).toBe('succeeded');
    expect(h.rows()).toHaveLength(4);
    const retries = h.logs().filter((l) => l.msg === 'token request failed, retrying');
    expect(retries.map((l) => l.attempt)).toEqual([1, 2, 3]);
    // Exponential backoff with jitter in [ceiling/2, ceiling]: never shorter than the one before.
    const delays = retries.map((l) => Number(l.delayMs));
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]!);
    expect(retries.every((l) => /temporarily_unavailable|503/.test(String(l.error)))).toBe(true);
  });

  it('a long outage fails the cycle with the cause, not the process; the next cycle recovers', async () => {
    f = await fixture(4);
    f.emu.tenant.setFaults({ token: { count: 1000, status: 503 } });
    h = syncHarness(f.emu);
    const failed = await h.sync();
    expect(failed.status).toBe('failed');
    expect(failed.error).toBeInstanceOf(CredentialError);
    expect(failed.error?.message).toMatch(/^token endpoint failed 6 times/);
    expect(h.rows()).toHaveLength(0);
    f.emu.tenant.clearFaults();
    expect((await h.sync()).status).toBe('succeeded');
  });

  it('the daemon stays up through an outage: /healthz 200, /readyz 503, then ready again', async () => {
    f = await fixture(4);
    // Down from the start: the daemon has no cached token yet.
    f.emu.tenant.setFaults({ token: { count: 1000, status: 503 } });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: '*/2 * * * * *' });
    const failed = await d.waitFor((l) => l.msg === 'cycle failed', 15_000);
    expect(String(failed.error)).toMatch(/token endpoint failed 6 times/);
    expect(d.lines().filter((l) => l.msg === 'token request failed, retrying').length).toBeGreaterThanOrEqual(
      5,
    );
    expect(d.child.exitCode).toBeNull();
    expect((await d.get('/healthz')).status).toBe(200);
    expect((await d.get('/readyz')).status).toBe(503);
    f.emu.tenant.clearFaults();
    await d.waitFor((l) => cycleFinished(l) && l.status === 'succeeded', 10_000);
    expect((await d.get('/readyz')).status).toBe(200);
    expect(await d.stop()).toBe(0);
  });
});
