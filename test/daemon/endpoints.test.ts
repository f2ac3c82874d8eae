/** /healthz, /readyz, /metrics and /status of `entrasync run`, read over HTTP as a probe would. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/harness.js';
import { EVERY_SECOND, NEVER_DURING_TEST, fixture, type Fixture } from './fixture.js';
import { cycleFinished, metric } from './support.js';

let f: Fixture;
beforeEach(async () => {
  f = await fixture(12);
});
afterEach(() => f.close());

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('/readyz', () => {
  it('503 until a cycle succeeded, 200 after, 503 again once the last success is older than the max age', async () => {
    f.emu.tenant.setFaults({ latencyMs: 300 });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST, ENTRASYNC_READY_MAX_AGE: '2' });
    const during = await d.get('/readyz');
    expect(during.status).toBe(503);
    expect(during.json()).toMatchObject({ ready: false, reason: 'no cycle has finished yet' });
    expect((await d.get('/healthz')).status).toBe(200);
    await d.waitFor(cycleFinished);
    expect((await d.get('/readyz')).json()).toMatchObject({ ready: true, maxAgeSeconds: 2 });
    // No tick comes: the sync has "silently stopped".
    await delay(3200);
    const stale = await d.get('/readyz');
    expect(stale.status).toBe(503);
    expect(stale.json<{ reason: string }>().reason).toMatch(/last successful cycle is \d+ s old/);
    expect(metric((await d.get('/metrics')).body, 'entrasync_last_success_age_seconds')).toBeGreaterThan(2);
    expect(await d.stop()).toBe(0);
  });

  it('503 when a cycle fails (Graph answering 503), 200 again after the next good cycle', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: '*/2 * * * * *' });
    await d.waitFor(cycleFinished);
    expect((await d.get('/readyz')).status).toBe(200);
    // Six 503s in a row: every attempt of one request (graph.maxAttempts 6), so one cycle fails.
    f.emu.tenant.setFaults({ throttle: { count: 6, status: 503, retryAfter: null } });
    const failed = await d.waitFor((l) => l.msg === 'cycle failed', 10_000);
    const r = await d.get('/readyz');
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({ ready: false, reason: 'the last cycle failed' });
    expect((await d.get('/healthz')).status).toBe(200);
    const m = (await d.get('/metrics')).body;
    expect(metric(m, 'entrasync_cycles_total', { result: 'failed', kind: String(failed.kind) })).toBe(1);
    expect(metric(m, 'entrasync_graph_throttled_total')).toBe(6);
    expect(metric(m, 'entrasync_ready')).toBe(0);
    await d.waitFor((l) => cycleFinished(l) && l.time! > failed.time! && l.status === 'succeeded', 10_000);
    expect((await d.get('/readyz')).status).toBe(200);
    expect(await d.stop()).toBe(0);
  });
});

describe('/metrics', () => {
  it('exposes cycles, changes, durations, Graph requests, users by state and ages', async () => {
    f.emu.tenant.setFaults({ throttle: { count: 2, status: 429, retryAfter: 0 } });
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: EVERY_SECOND });
    const cycles = await d.waitForCount(cycleFinished, 3, 15_000);
    f.emu.tenant.unassign(f.ids[0]!);
    const disable = await d.waitFor(
      (l) => cycleFinished(l) && (l.counts as { disable: number }).disable === 1,
    );
    const res = await fetch(`http://127.0.0.1:${d.port}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const m = await res.text();
    const finished = d.lines().filter(cycleFinished);
    const n = (name: string, labels?: Record<string, string>) => metric(m, name, labels);

    expect(n('entrasync_cycles_total', { result: 'succeeded', kind: 'initial' })).toBe(1);
    expect(n('entrasync_cycles_total', { result: 'succeeded', kind: 'incremental' })).toBe(
      finished.length - 1,
    );
    expect(n('entrasync_cycles_total', { result: 'failed', kind: 'incremental' })).toBe(0);
    expect(n('entrasync_changes_total', { action: 'create' })).toBe(12);
    expect(n('entrasync_changes_total', { action: 'disable' })).toBe(1);
    expect(n('entrasync_cycle_duration_seconds_count')).toBe(finished.length);
    const graphRequests = finished.reduce((sum, l) => sum + Number(l.graphRequests), 0);
    expect(n('entrasync_graph_requests_total')).toBeGreaterThanOrEqual(graphRequests);
    expect(n('entrasync_graph_throttled_total')).toBe(2);
    expect(n('entrasync_users', { state: 'active' })).toBe(11);
    expect(n('entrasync_users', { state: 'inactive' })).toBe(1);
    expect(n('entrasync_last_success_age_seconds')).toBeLessThanOrEqual(2);
    expect(n('entrasync_delta_state_age_seconds', { round: 'users' })).toBeLessThanOrEqual(2);
    expect(n('entrasync_quarantined')).toBe(0);
    expect(n('entrasync_ready')).toBe(1);
    expect(n('entrasync_ticks_skipped_total', { reason: 'lease' })).toBe(0);
    expect(n('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(cycles[0]).toMatchObject({ kind: 'initial' });
    expect(disable.status).toBe('succeeded');
    // Nothing personal in any label or value.
    expect(m).not.toMatch(/@|person/i);
    expect(await d.stop()).toBe(0);
  });
});

describe('/status and the rest', () => {
  it('/status is the status document without personal data', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    await d.waitFor(cycleFinished);
    const http = await d.get('/status');
    expect(http.status).toBe(200);
    const doc = http.json<{ users: { total: number }; lastCycles: { id: string }[] }>();
    expect(doc.users.total).toBe(12);
    const cli = JSON.parse((await runCli(['status', '--json'], f.env)).stdout) as typeof doc;
    expect(Object.keys(doc).sort()).toEqual(Object.keys(cli).sort());
    expect(doc.lastCycles.map((c) => c.id)).toEqual(cli.lastCycles.map((c) => c.id));
    for (const id of f.ids) {
      const u = f.emu.tenant.getUser(id)!;
      for (const personal of [u.userPrincipalName, u.mail, u.displayName])
        expect(http.body).not.toContain(personal);
    }
    expect(http.body).not.toMatch(/@|person/i);
    expect(await d.stop()).toBe(0);
  });

  it('answers 404 for other paths and 405 for other methods; HEAD works', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    expect((await d.get('/users')).status).toBe(404);
    const post = await fetch(`http://127.0.0.1:${d.port}/readyz`, { method: 'POST' });
    expect(post.status).toBe(405);
    const head = await fetch(`http://127.0.0.1:${d.port}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await d.stop()).toBe(0);
  });
});
