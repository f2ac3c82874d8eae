/**
 * A newcomer's failed trial runs quarantine the store; once the setting is fixed, `entrasync run`
 * must say loudly (warn) that it skips, until when, and how to lift it, and `status` must say so too.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/harness.js';
import { NEVER_DURING_TEST, fixture, type Fixture } from './fixture.js';

let f: Fixture;
beforeEach(async () => {
  f = await fixture(3);
});
afterEach(() => f.close());

describe('quarantine after trial runs', () => {
  it('run warns with the class, the reason, the next attempt and the way out; status too; sync lifts it', async () => {
    // Four trial runs with the client id where the Object ID belongs: real failed cycles.
    for (let i = 0; i < 4; i++) {
      const r = await runCli(['sync'], { ...f.env, ENTRASYNC_SERVICE_PRINCIPAL_ID: f.emu.clientId });
      expect(r.code).toBe(1);
    }
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    const skipped = await d.waitFor((l) => l.reason === 'quarantine');
    expect(skipped).toMatchObject({
      level: 40,
      trigger: 'start',
      quarantineReason: 'EncounteredQuarantineException',
      consecutiveFailures: 4,
      startedByFailureClass: 'persistent',
    });
    const next = String(skipped.nextAttemptAt);
    expect(Date.parse(next)).toBeGreaterThan(Date.now() + 3600_000);
    expect(skipped.msg).toBe(
      `tick skipped: quarantined after 4 failed cycles in a row (EncounteredQuarantineException, started by a persistent failure); next scheduled attempt at ${next}; run \`entrasync sync\` to lift it (a successful cycle ends the quarantine)`,
    );
    expect(String(skipped.lastError)).toMatch(/must be the enterprise application's Object ID/);

    const status = await runCli(['status'], f.env);
    expect(status.stdout).toMatch(
      new RegExp(
        `QUARANTINED \\(EncounteredQuarantineException\\): 4 failed cycles \\(4 persistent\\); scheduled cycles resume at ${next}; run \`entrasync sync\` to lift it`,
      ),
    );

    // The way out works as said.
    expect((await runCli(['sync'], f.env)).code).toBe(0);
    const after = await runCli(['status', '--json'], f.env);
    expect(
      (JSON.parse(after.stdout) as { quarantine: { quarantined: boolean } }).quarantine.quarantined,
    ).toBe(false);
    expect(f.store().db.prepare('SELECT count(*) AS n FROM users').get()).toEqual({ n: 3 });
    expect(await d.stop()).toBe(0);
  });
});

describe('the daemon on a certificate it does not trust', () => {
  it('the start cycle fails at once, classed persistent, naming NODE_EXTRA_CA_CERTS; the process stays up', async () => {
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST, NODE_EXTRA_CA_CERTS: '' });
    const failed = await d.waitFor((l) => l.msg === 'cycle failed');
    expect(String(failed.error)).toMatch(
      /^TLS: the certificate of 127\.0\.0\.1:\d+ is self-signed and not trusted by this process \(DEPTH_ZERO_SELF_SIGNED_CERT\); NODE_EXTRA_CA_CERTS is not set/,
    );
    expect(d.lines().filter((l) => /retrying/.test(String(l.msg)))).toEqual([]);
    const row = f.store().db.prepare('SELECT status, failure_class FROM cycles').get();
    expect(row).toEqual({ status: 'failed', failure_class: 'persistent' });
    expect((await d.get('/healthz')).status).toBe(200);
    expect(await d.stop()).toBe(0);
  });
});
