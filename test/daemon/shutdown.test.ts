/**
 * SIGTERM/SIGINT: scheduling stops, a running cycle may finish within the grace period, the
 * database is closed and the process exits 0. A cycle cut short by the grace period leaves the
 * store consistent and the delta link where the last complete cycle put it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/harness.js';
import { NEVER_DURING_TEST, fixture, type Fixture } from './fixture.js';
import { cycleFinished } from './support.js';

let f: Fixture;
beforeEach(async () => {
  f = await fixture(20);
});
afterEach(() => f.close());

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastCycle = () =>
  f.store().db.prepare('SELECT kind, status, error FROM cycles ORDER BY started_at DESC LIMIT 1').get();
const locks = () => f.store().db.prepare('SELECT * FROM locks').all();
const names = () =>
  (
    f.store().db.prepare('SELECT display_name FROM users ORDER BY user_name').all() as {
      display_name: string;
    }[]
  ).map((r) => r.display_name);

describe('stopping', () => {
  it('SIGTERM while idle: exits 0 at once', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    await d.waitFor(cycleFinished);
    const t0 = Date.now();
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(d.lines().at(-1)).toMatchObject({ msg: 'daemon stopped', outcome: 'idle' });
  });

  it('SIGINT during a cycle: the cycle finishes within the grace period, then exit 0', async () => {
    f.emu.tenant.setFaults({ latencyMs: 200 });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST, ENTRASYNC_SHUTDOWN_GRACE: '30' });
    await d.waitFor((l) => l.msg === 'cycle started');
    await delay(300);
    expect(await d.stop('SIGINT')).toBe(0);
    const msgs = d.lines().map((l) => l.msg);
    expect(msgs.indexOf('shutting down')).toBeLessThan(msgs.indexOf('cycle finished'));
    expect(d.lines().at(-1)).toMatchObject({ msg: 'daemon stopped', outcome: 'finished' });
    expect(lastCycle()).toMatchObject({ kind: 'initial', status: 'succeeded' });
    expect(names()).toHaveLength(20);
    expect(locks()).toEqual([]);
  });

  it('SIGTERM during a long cycle: after the grace period, exit 0; store consistent, delta link not advanced', async () => {
    expect((await runCli(['sync'], f.env)).code).toBe(0);
    const link = f.store().tables.state.get('users_delta_link');
    expect(link).toBeTruthy();
    for (let i = 0; i < 20; i++) f.emu.tenant.updateUser(f.ids[i]!, { displayName: `Second Name ${i}` });
    f.emu.tenant.setFaults({ latencyMs: 400 });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST, ENTRASYNC_SHUTDOWN_GRACE: '1' });
    await d.waitFor((l) => l.msg === 'cycle started');
    await delay(500);
    const t0 = Date.now();
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(d.lines().some((l) => l.msg === 'cycle finished')).toBe(false);
    expect(d.lines().at(-1)).toMatchObject({ msg: 'daemon stopped', outcome: 'interrupted' });

    // The cycle is recorded as aborted, its lease is gone, the delta link is the previous one:
    // the next cycle fetches the same changes again.
    expect(lastCycle()).toMatchObject({ kind: 'incremental', status: 'aborted' });
    expect(locks()).toEqual([]);
    expect(f.store().tables.state.get('users_delta_link')).toBe(link);
    expect(names().every((n) => /^(Person Number|Second Name) \d+$/.test(n))).toBe(true);

    f.emu.tenant.clearFaults();
    const after = await runCli(['sync', '--json'], f.env);

    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ kind: 'incremental', status: 'succeeded' });
    expect(new Set(names().map((n) => n.replace(/\d+$/, '')))).toEqual(new Set(['Second Name ']));
    expect(f.store().tables.state.get('users_delta_link')).not.toBe(link);
  });
});
