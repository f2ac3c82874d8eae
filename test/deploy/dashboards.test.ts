/**
 * deploy/grafana and deploy/prometheus: the rules pass `promtool check rules` and their unit tests
 * (each alert fires on its series, and only then), and every metric and label value the dashboard
 * and the rules select exists in the /metrics output of a real daemon after a cycle.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../support/harness.js';
import { cycleFinished } from '../daemon/support.js';
import { fixture, NEVER_DURING_TEST, type Fixture } from '../daemon/fixture.js';

const RULES = join(ROOT, 'deploy/prometheus/entrasync-rules.yml');
const RULE_TESTS = join(ROOT, 'test/deploy/entrasync-rules.promtest.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/entrasync-dashboard.json');
const PROMTOOL = process.env.ENTRASYNC_TEST_PROMTOOL ?? '/usr/bin/promtool';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}
interface Rules {
  groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const rules = (parse(readFileSync(RULES, 'utf8')) as Rules).groups.flatMap((g) => g.rules);
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const ruleExprs = rules.map((r) => r.expr);

/** Metric names in a PromQL expression (entrasync's own and the Node process metrics). */
const metricNames = (expr: string) =>
  [...expr.matchAll(/\b((?:entrasync|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);

/** `name{label="value", …}` selectors with exact matchers (regex matchers like job=~"$job" aside). */
function exactSelectors(expr: string): { name: string; labels: Record<string, string> }[] {
  return [...expr.matchAll(/\b((?:entrasync|process|nodejs)_[a-z0-9_]+)\{([^}]*)\}/g)].map((m) => ({
    name: m[1]!,
    labels: Object.fromEntries(
      [...m[2]!.matchAll(/(\w+)\s*=\s*"([^"]*)"/g)].map((l) => [l[1]!, l[2]!] as [string, string]),
    ),
  }));
}

const promtoolSkip = existsSync(PROMTOOL) || process.env.CI ? null : `no promtool at ${PROMTOOL}`;
if (promtoolSkip)
  console.warn(`promtool tests SKIPPED: ${promtoolSkip} (apt-get install prometheus; .ci/run installs it)`);

describe.skipIf(promtoolSkip !== null)('Prometheus rules (promtool)', () => {
  const promtool = (...args: string[]) => promisify(execFile)(PROMTOOL, args, { cwd: ROOT });

  it('pass `promtool check rules`', async () => {
    const { stdout } = await promtool('check', 'rules', RULES);
    expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('pass their unit tests: each alert fires on its series and not otherwise', async () => {
    const { stdout } = await promtool('test', 'rules', RULE_TESTS);
    expect(stdout).toContain('SUCCESS');
    // Every alert is tested both ways: firing somewhere, silent somewhere.
    const tests = (
      parse(readFileSync(RULE_TESTS, 'utf8')) as {
        tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
      }
    ).tests.flatMap((t) => t.alert_rule_test);
    for (const r of rules) {
      const cases = tests.filter((t) => t.alertname === r.alert);
      expect(
        cases.some((t) => t.exp_alerts.length > 0),
        `${r.alert} fires in a test`,
      ).toBe(true);
      expect(
        cases.some((t) => t.exp_alerts.length === 0),
        `${r.alert} stays silent in a test`,
      ).toBe(true);
    }
  });
});

describe('the rules and the dashboard', () => {
  it('alert on a failing cycle, quarantine, held deletions and a stale last success, naming the fix', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'EntrasyncCycleFailing',
        'EntrasyncQuarantined',
        'EntrasyncDeletionsHeld',
        'EntrasyncNoRecentSuccess',
      ]),
    );
    for (const r of rules) {
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description, r.alert).toMatch(/`entrasync [a-z-]+/);
    }
  });

  it('has a datasource variable every panel uses, unique panel ids, and the panels operators look for', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const queried = dashboard.panels.filter((p) => p.type !== 'row');
    for (const p of queried) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource?.uid, p.title).toBe('${datasource}');
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const used = new Set(dashboardExprs.flatMap(metricNames));
    for (const name of [
      'entrasync_cycles_total',
      'entrasync_last_success_age_seconds',
      'entrasync_changes_total',
      'entrasync_users',
      'entrasync_deletions_held',
      'entrasync_failing_users',
      'entrasync_failing_groups',
      'entrasync_quarantined',
      'entrasync_graph_requests_total',
      'entrasync_graph_throttled_total',
      'entrasync_store_lock_wait_seconds_total',
      'entrasync_leader',
    ])
      expect(used, name).toContain(name);
  });

  describe('against a real daemon', () => {
    let f: Fixture;
    let exposition: string;
    beforeAll(async () => {
      f = await fixture(6, 5);
      const d = await f.daemon({ ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
      await d.waitFor(cycleFinished);
      exposition = (await d.get('/metrics')).body;
    });
    afterAll(() => f?.close());

    const samples = () =>
      exposition
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => {
          const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? /.exec(l)!;
          const labels = Object.fromEntries(
            [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!] as [string, string]),
          );
          return { name: m[1]!, labels };
        });

    for (const [what, exprs] of [
      ['dashboard', dashboardExprs],
      ['rules', ruleExprs],
    ] as const) {
      it(`every metric and label value the ${what} selects is in /metrics`, () => {
        const have = samples();
        // A labelled gauge with no sample yet (the running cycle's phase, between cycles) is still
        // declared by its TYPE line.
        const declared = [...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
        const names = new Set([...have.map((s) => s.name), ...declared]);
        const missing = [...new Set(exprs.flatMap(metricNames))].filter((n) => !names.has(n));
        expect(missing).toEqual([]);
        for (const sel of exprs.flatMap(exactSelectors)) {
          if (Object.keys(sel.labels).length === 0) continue; // the name is checked above
          const match = have.some(
            (s) => s.name === sel.name && Object.entries(sel.labels).every(([k, v]) => s.labels[k] === v),
          );
          expect(match, `${sel.name}${JSON.stringify(sel.labels)}`).toBe(true);
        }
      });
    }
  });
});
