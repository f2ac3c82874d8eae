/**
 * The status page at / of `entrasync run`, loaded in headless chromium as a person would: during a
 * running cycle, after a few cycles (the chart), with deletions held by the threshold, with and
 * without ENTRASYNC_HTTP_SHOW_USERS. Every load must raise no CSP violation or console error and
 * request nothing outside the daemon's origin.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { escapeControls } from '../../src/cli/text.js';
import { ConfigError } from '../../src/config/index.js';
import { loadDaemonConfig } from '../../src/config/daemon.js';
import { escapeHtml } from '../../src/daemon/status-html.js';
import { renderStatusPage, STATUS_PAGE_HEADERS, type PageDocument } from '../../src/daemon/status-page.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, ROOT, runCli, tempDir, writeSettings } from '../support/harness.js';
import { STORE_KINDS, testStore, type TestStore } from '../support/stores.js';
import {
  browserSkipReason,
  launchBrowser,
  openPage,
  textOf,
  type WatchedPage,
} from './status-page-browser.js';
import { fixture } from './fixture.js';
import { assertBuilt, cycleFinished, startDaemon, type Daemon } from './support.js';

const HOSTILE = '<img src=x onerror=alert(1)>@contoso.com';
const EVERY_SECOND = '*/1 * * * * *';
const NEVER_DURING_TEST = '0 0 1 1 *';

describe('escapeHtml', () => {
  it('shows every character the CLI shows as \\u{…} the same way, and escapes markup', () => {
    const entities: Record<string, string> = {
      '&': '&amp;',
      '<': '&lt;',
      '>': '&gt;',
      '"': '&quot;',
      "'": '&#39;',
    };
    for (let cp = 0; cp <= 0xffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCharCode(cp);
      expect(escapeHtml(c), `U+${cp.toString(16)}`).toBe(entities[c] ?? escapeControls(c));
    }
    expect(escapeHtml('a\u202Eb<')).toBe('a\\u{202E}b&lt;');
  });
});

describe('ENTRASYNC_HTTP_SHOW_USERS', () => {
  it('is off unless 1; any other value than 0 or 1 names the variable', () => {
    expect(loadDaemonConfig({}).showUsers).toBeUndefined();
    expect(loadDaemonConfig({ ENTRASYNC_HTTP_SHOW_USERS: '0' }).showUsers).toBeUndefined();
    expect(loadDaemonConfig({ ENTRASYNC_HTTP_SHOW_USERS: '1' }).showUsers).toBe(true);
    for (const bad of ['yes', 'true', '2']) {
      expect(() => loadDaemonConfig({ ENTRASYNC_HTTP_SHOW_USERS: bad })).toThrow(ConfigError);
      expect(() => loadDaemonConfig({ ENTRASYNC_HTTP_SHOW_USERS: bad })).toThrow(
        /^ENTRASYNC_HTTP_SHOW_USERS: expected 1 .* or 0, got "/,
      );
    }
  });

  it('a bad value makes `entrasync run` exit 2, naming it', async () => {
    assertBuilt();
    const dir = tempDir();
    const r = await runCli(['run'], {
      ENTRASYNC_TENANT_ID: 'contoso.onmicrosoft.com',
      ENTRASYNC_CLIENT_ID: '00000000-0000-4000-8000-000000000001',
      ENTRASYNC_CLIENT_SECRET: 'not-used',
      ENTRASYNC_DB: join(dir, 'store.db'),
      ENTRASYNC_CONFIG: writeSettings(dir),
      ENTRASYNC_HTTP_HOST: '127.0.0.1',
      ENTRASYNC_HTTP_SHOW_USERS: 'yes',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/configuration error: ENTRASYNC_HTTP_SHOW_USERS: expected 1/);
  });
});

describe('GET /', () => {
  it('answers HTML under a policy that allows only its own stylesheet; HEAD and /index.html too', async () => {
    const f = await fixture(3);
    try {
      const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
      await d.waitFor(cycleFinished);
      for (const path of ['/', '/index.html']) {
        const res = await fetch(`http://127.0.0.1:${d.port}${path}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        const csp = res.headers.get('content-security-policy')!;
        expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*';/);
        expect(csp).not.toMatch(/unsafe|script-src|\*/);
        const body = await res.text();
        expect(body).toMatch(/^<!doctype html>/);
        expect(body).not.toMatch(/<script|\sstyle=|\son[a-z]+=|https?:\/\/(?!127\.0\.0\.1)/i);
      }
      const head = await fetch(`http://127.0.0.1:${d.port}/`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      expect(await d.stop()).toBe(0);
    } finally {
      await f.close();
    }
  });
});

const skip = browserSkipReason();
if (skip) console.warn(`status page browser tests SKIPPED: ${skip}`);

/** Nothing went wrong in the browser, and it asked nothing of any other origin. */
function expectClean(w: WatchedPage, origin: string) {
  expect(w.problems).toEqual([]);
  expect(w.requests.filter((u) => !u.startsWith(`${origin}/`))).toEqual([]);
}

describe.skipIf(skip !== null)('the status page in headless chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(() => browser?.close());

  it("renders a running cycle's progress: phase, bar, amount, time left; userNames escaped", async () => {
    const now = Date.parse('2026-11-30T10:00:00Z');
    const cycle = (i: number, counts: Record<string, number>, ms: number) => ({
      id: `c${i}`,
      kind: i === 0 ? ('initial' as const) : ('incremental' as const),
      dryRun: false,
      startedAt: new Date(now - (10 - i) * 60_000).toISOString(),
      endedAt: new Date(now - (10 - i) * 60_000 + ms).toISOString(),
      status: 'succeeded' as const,
      counts,
      graphRequests: 7,
      error: null,
      failureClass: null,
      durationMs: ms,
    });
    const doc: PageDocument = {
      store: { kind: 'sqlite', leader: 'host:1' },
      lastCycles: [
        { ...cycle(3, {}, 0), endedAt: null, status: 'running', durationMs: null },
        cycle(2, { update: 3, disable: 1 }, 900),
        cycle(1, {}, 400),
        cycle(0, { create: 20000 }, 40_000),
      ],
      onDemandRuns: [],
      lastSuccessfulCycle: { id: 'c2', endedAt: new Date(now - 60_000).toISOString(), ageSeconds: 60 },
      users: { total: 20000, active: 19990, inactive: 10, linked: 20000, local: 0 },
      groups: { total: 0, linked: 0, local: 0, memberships: 0 },
      deltaState: { usersSavedAt: null, usersAgeSeconds: null, groupsSavedAt: null },
      pendingUsers: 0,
      cycleRunning: { owner: 'host:1', until: new Date(now + 60_000).toISOString() },
      lastError: null,
      quarantine: {
        quarantined: false,
        reason: null,
        consecutiveFailures: 0,
        lastError: null,
        nextAttemptAt: null,
        startedBy: null,
        failures: { transient: 0, persistent: 0, unknown: 0 },
      },
      deletions: {
        held: true,
        count: 1,
        rejected: 0,
        changes: [
          {
            entraId: 'id-1',
            kind: 'disable',
            cycleId: 'c2',
            stagedAt: '2026-11-30T09:59:00Z',
            rejected: false,
            userName: 'adm\u202Enimda<b>',
          },
        ],
      },
      failingUsers: {
        count: 1,
        users: [
          {
            entraId: 'id-2',
            failures: 3,
            lastError: 'userName "<script>x()</script>@contoso.com" is held by another row',
            retryAfter: '2026-11-30T10:30:00Z',
          },
        ],
      },
      failingGroups: { count: 2 },
      progress: {
        cycleId: 'c3',
        kind: 'full',
        phase: 'users',
        startedAt: new Date(now - 6000).toISOString(),
        updatedAt: new Date(now).toISOString(),
        usersInScope: 20000,
        pagesRead: 120,
        usersRead: 12000,
        usersWritten: 40,
        done: 12000,
        expected: 20000,
        ratePerSecond: 2000,
        etaSeconds: 6,
        counts: { update: 40, skip: 11960 },
        graphRequests: 130,
      },
    };
    for (const showUsers of [false, true]) {
      const server = createServer((_req, res) => {
        res.writeHead(200, STATUS_PAGE_HEADERS);
        res.end(renderStatusPage(doc, { showUsers, now }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const w = await openPage(browser, `${origin}/`);
        expect(await textOf(w.page, '#running h2')).toBe('Cycle running');
        expect(await textOf(w.page, '#running .phase')).toBe('full cycle · phase users');
        expect(await textOf(w.page, '#running .amount')).toBe(
          'users: 12,000 of 20,000 (60 %), about 6 s left · 2,000/s',
        );
        const bar = w.page.locator('#running progress');
        expect(await bar.getAttribute('value')).toBe('12000');
        expect(await bar.getAttribute('max')).toBe('20000');
        expect(await textOf(w.page, '#scope .value')).toBe('20,000');
        // Three finished cycles, the running one not among them.
        expect(await w.page.locator('svg.chart g.cycle').count()).toBe(3);
        expect(await w.page.locator('svg.chart g.cycle').first().getAttribute('data-cycle')).toBe('c0');
        const held = w.page.locator('#held-changes td.user');
        if (showUsers) expect(await held.innerText()).toBe('adm\\u{202E}nimda<b>');
        else expect(await held.count()).toBe(0);
        expect(await w.page.locator('#held-changes b').count()).toBe(0);
        const error = w.page.locator('#failing-users td.user');
        if (showUsers)
          expect(await error.innerText()).toBe(
            'userName "<script>x()</script>@contoso.com" is held by another row',
          );
        else expect(await error.count()).toBe(0);
        expect(await textOf(w.page, '#failing-users tbody')).toContain('id-2');
        expect(await textOf(w.page, '#failing .value')).toBe('1');
        expect(await textOf(w.page, '#failing .note')).toBe(
          'and 2 failing groups; retried with growing spacing',
        );
        expect(await w.page.locator('script').count()).toBe(0);
        expectClean(w, origin);
        await w.page.context().close();
      } finally {
        await new Promise((r) => server.close(r));
      }
    }
  });

  describe.each(STORE_KINDS)('a daemon on %s', (kind) => {
    let emu: RunningEmulator;
    let store: TestStore;
    const daemons: Daemon[] = [];
    afterEach(async () => {
      for (const d of daemons.splice(0)) await d.stop('SIGKILL');
      await store?.close();
      await emu?.close();
    });

    /** Waits until the daemon's /status carries the running cycle's progress (published about once a second). */
    const progressOf = async (d: { get(path: string): Promise<{ json<T>(): T }> }) => {
      const until = Date.now() + 10_000;
      for (;;) {
        const { progress } = (await d.get('/status')).json<{ progress: { phase: string } | null }>();
        if (progress) return progress;
        if (Date.now() > until) throw new Error('no progress in /status within 10 s of the cycle start');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    it('shows the running cycle, users, the chart of past cycles and held deletions; userNames only with SHOW_USERS=1, as text', async () => {
      emu = await startTestEmulator({ pageSize: 5 });
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        const upn = i === 0 ? HOSTILE : `person${String(i).padStart(2, '0')}@contoso.com`;
        const u = emu.tenant.createUser({
          userPrincipalName: upn,
          displayName: `Person ${i}`,
          accountEnabled: true,
        });
        emu.tenant.assign(u.id, 'User');
        ids.push(u.id);
      }
      const dir = tempDir('entrasync-page-');
      writeSettings(dir, { safety: { deletionThreshold: { enabled: true, count: 3, percent: null } } });
      store = await testStore(kind, dir);
      const env = emulatorEnv(emu, dir, { ENTRASYNC_DB: store.db, ENTRASYNC_LOG_LEVEL: 'info' });
      const start = async (extra: Record<string, string>) => {
        const d = await startDaemon({ ...env, ...extra });
        daemons.push(d);
        return { d, origin: `http://127.0.0.1:${d.port}` };
      };

      // 1. The first cycle, slowed down: the page shows it running.
      emu.tenant.setFaults({ latencyMs: 400 });
      const a = await start({ ENTRASYNC_SCHEDULE: EVERY_SECOND });
      await a.d.waitFor((l) => l.msg === 'cycle started');
      await progressOf(a.d);
      let w = await openPage(browser, `${a.origin}/`);
      expect(await textOf(w.page, 'h1')).toBe('entrasync · Current Status');
      expect(await textOf(w.page, '#running h2')).toBe('Cycle running');
      expect(await w.page.locator('#running progress').isVisible()).toBe(true);
      // The cycle's own progress, published by it while it runs: its phase by name.
      expect(await textOf(w.page, '#running')).toMatch(/\b(scope|users|reconcile|pending|settle)\b/);
      // Its row in the cycles table does not claim "no changes, 0 requests": it points to the card.
      const runningRow = await w.page.locator('#cycles tbody tr.running td').allInnerTexts();
      expect(runningRow.slice(4, 6)).toEqual(['in progress (above)', '–']);
      expect(a.d.lines().filter(cycleFinished)).toHaveLength(0);
      expectClean(w, a.origin);
      await w.page.context().close();

      // 2. A few cycles, then four unassignments: above the threshold, so they are held.
      emu.tenant.setFaults({});
      await a.d.waitForCount(cycleFinished, 3, 30_000);
      for (const id of ids.slice(0, 4)) emu.tenant.unassign(id);
      await a.d.waitFor((l) => cycleFinished(l) && (l.counts as { staged?: number }).staged === 4, 15_000);
      w = await openPage(browser, `${a.origin}/`);
      expect(await textOf(w.page, '#held .value')).toBe('4');
      expect(await w.page.locator('#held-changes tbody tr').count()).toBe(4);
      expect(await textOf(w.page, 'main')).toMatch(/approve-deletions/);
      const body = await textOf(w.page, 'body');
      expect(body).not.toContain('contoso.com');
      expect(body).not.toContain('Person 1');
      expect(await w.page.locator('img').count()).toBe(0);
      expectClean(w, a.origin);
      await w.page.context().close();
      expect(await a.d.stop()).toBe(0);

      // 3. No cycle runs after the start cycle: the page and /status describe the same cycles.
      const b = await start({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
      await b.d.waitFor(cycleFinished);
      w = await openPage(browser, `${b.origin}/`);
      const status = (await b.d.get('/status')).json<{
        lastCycles: { id: string; endedAt: string | null }[];
      }>();
      const finished = status.lastCycles.filter((c) => c.endedAt !== null).map((c) => c.id);
      expect(finished.length).toBeGreaterThanOrEqual(5);
      const bars = await w.page
        .locator('svg.chart g.cycle')
        .evaluateAll((gs) => gs.map((g) => g.getAttribute('data-cycle')));
      expect(bars).toEqual(finished.reverse());
      expect(await textOf(w.page, '#running h2')).toBe('No cycle running');
      expect(await textOf(w.page, '#users .value')).toBe('30');
      expect(await textOf(w.page, '#users .note')).toBe('30 active · 0 inactive');
      expect(await textOf(w.page, '#held .value')).toBe('4');
      expect(await w.page.locator('#cycles tbody tr').count()).toBe(status.lastCycles.length);
      expectClean(w, b.origin);
      await w.page.context().close();
      expect(await b.d.stop()).toBe(0);

      // 4. With SHOW_USERS=1 the held changes name their users, hostile markup shown as text. The
      // start cycle is short (a few requests), so each is slow enough to find it running.
      emu.tenant.setFaults({ latencyMs: 1000 });
      const c = await start({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST, ENTRASYNC_HTTP_SHOW_USERS: '1' });
      await c.d.waitFor((l) => l.msg === 'cycle started');
      await progressOf(c.d);
      w = await openPage(browser, `${c.origin}/`);
      expect(await textOf(w.page, '#running h2')).toBe('Cycle running');
      expect(await w.page.locator('svg.chart g.cycle').count()).toBeGreaterThanOrEqual(5);
      if (kind === 'sqlite' && process.env.ENTRASYNC_STATUS_PAGE_SCREENSHOT === '1') {
        mkdirSync(join(ROOT, 'docs'), { recursive: true });
        await w.page.screenshot({ path: join(ROOT, 'docs/status-page.png'), fullPage: true });
      }
      const names = await w.page.locator('#held-changes td.user').allInnerTexts();
      expect(names.sort()).toEqual([
        HOSTILE,
        'person01@contoso.com',
        'person02@contoso.com',
        'person03@contoso.com',
      ]);
      expect(await w.page.locator('img').count()).toBe(0);
      expectClean(w, c.origin);
      await w.page.context().close();
      // /status stays without personal data.
      expect((await c.d.get('/status')).body).not.toContain('contoso.com');
    }, 120_000);
  });
});
