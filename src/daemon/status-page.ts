import { createHash } from 'node:crypto';
import type { UserStore } from '../store/index.js';
import { buildStatus, type StatusDocument } from '../sync/status.js';
import { publicStatus } from './public-status.js';
import { cycleChart } from './status-chart.js';
import { STYLESHEET } from './status-style.js';
import { duration, escapeHtml as e, num, time } from './status-html.js';

export type PageDocument = StatusDocument & {
  /** Users in scope or linked, from the store (the running cycle's own count is in `progress`). */
  usersInScope?: number | null;
};

export interface PageOptions {
  /** userNames of held changes and failing users' errors (ENTRASYNC_HTTP_SHOW_USERS=1). */
  showUsers: boolean;
  now?: number;
  refreshSeconds?: number;
}

/** Counting stops here: the page says "more than" rather than scanning a huge scope every 5 s. */
const SCOPE_COUNT_LIMIT = 1_000_000;

/** What the page shows, read from the store: the /status document, personal fields only when allowed. */
export async function statusPageDocument(store: UserStore, showUsers: boolean): Promise<PageDocument> {
  const full = await buildStatus(store, { personal: showUsers });
  return {
    ...(showUsers ? full : publicStatus(full)),
    usersInScope: await store.scope.relevantUserCount(SCOPE_COUNT_LIMIT),
  };
}

/**
 * The headers of the page: nothing but its own inline stylesheet (by hash) may load or run, so a
 * value that slipped through escaping still cannot fetch or execute anything.
 */
export const STATUS_PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLESHEET).digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const pct = (done: number, of: number) => Math.min(100, Math.floor((done / Math.max(1, of)) * 100));

function running(doc: PageDocument): string {
  const p = doc.progress;
  if (p) {
    const known = p.expected !== null && p.expected > 0;
    const bar = known
      ? `<progress max="${p.expected}" value="${Math.min(p.done, p.expected!)}">${pct(p.done, p.expected!)} %</progress>`
      : '<progress></progress>';
    const amount = known
      ? `${num(p.done)} of ${num(p.expected!)} (${pct(p.done, p.expected!)} %)`
      : `${num(p.done)} so far`;
    const eta = p.etaSeconds !== null ? `, about ${duration(p.etaSeconds)} left` : '';
    const rate = p.ratePerSecond !== null ? ` · ${num(Math.round(p.ratePerSecond))}/s` : '';
    const counts = Object.entries(p.counts)
      .filter(([, n]) => n > 0)
      .map(([a, n]) => `${num(n)} ${e(a)}`)
      .join(', ');
    return (
      `<section id="running" class="running"><h2>Cycle running</h2>` +
      `<p><span class="phase">${e(p.kind)} cycle · phase <b>${e(p.phase)}</b></span> · started ${e(time(p.startedAt))}</p>` +
      bar +
      `<p class="amount">${e(p.phase)}: ${amount}${eta}${rate}</p>` +
      `<p class="muted">users read ${num(p.usersRead)} · written ${num(p.usersWritten)} · pages ${num(p.pagesRead)} · Graph requests ${num(p.graphRequests)}${counts ? ` · ${counts}` : ''}</p></section>`
    );
  }
  if (doc.cycleRunning) {
    return (
      `<section id="running" class="running"><h2>Cycle running</h2>` +
      `<p>cycle running (${e(doc.cycleRunning.owner)})</p><progress></progress></section>`
    );
  }
  return `<section id="running"><h2>No cycle running</h2></section>`;
}

function tiles(doc: PageDocument, now: number): string {
  const last = doc.lastSuccessfulCycle;
  const age = last?.endedAt ? duration(Math.max(0, (now - Date.parse(last.endedAt)) / 1000)) : null;
  const scope = doc.progress?.usersInScope ?? doc.usersInScope ?? null;
  const tile = (id: string, label: string, value: string, note = '', alert = false) =>
    `<div class="tile${alert ? ' alert' : ''}" id="${id}"><div class="label">${label}</div><div class="value">${value}</div><div class="note">${note}</div></div>`;
  return (
    `<div class="tiles">` +
    tile(
      'users',
      'Users in the store',
      num(doc.users.total),
      `${num(doc.users.active)} active · ${num(doc.users.inactive)} inactive`,
    ) +
    tile(
      'groups',
      'Groups in the store',
      num(doc.groups.total),
      `${num(doc.groups.memberships)} memberships`,
    ) +
    tile(
      'scope',
      'In scope or linked',
      scope === null ? '–' : scope > SCOPE_COUNT_LIMIT ? `> ${num(SCOPE_COUNT_LIMIT)}` : num(scope),
      `${num(doc.pendingUsers)} pending`,
    ) +
    tile(
      'last-success',
      'Last successful cycle',
      age ? `${age} ago` : 'none yet',
      last ? e(time(last.endedAt)) : '',
      !last,
    ) +
    tile(
      'held',
      'Deletions held',
      num(doc.deletions.held ? doc.deletions.count : 0),
      doc.deletions.rejected ? `${num(doc.deletions.rejected)} rejected` : '',
      doc.deletions.held,
    ) +
    tile(
      'failing',
      'Failing users',
      num(doc.failingUsers.count),
      doc.failingGroups.count > 0
        ? `and ${num(doc.failingGroups.count)} failing groups; retried with growing spacing`
        : 'retried with growing spacing',
      doc.failingUsers.count > 0 || doc.failingGroups.count > 0,
    ) +
    tile(
      'quarantine',
      'Quarantine',
      doc.quarantine.quarantined ? 'quarantined' : 'no',
      doc.quarantine.consecutiveFailures ? `${doc.quarantine.consecutiveFailures} failures in a row` : '',
      doc.quarantine.quarantined,
    ) +
    `</div>`
  );
}

function notices(doc: PageDocument): string {
  const out: string[] = [];
  const q = doc.quarantine;
  if (q.quarantined) {
    out.push(
      `<p class="notice">Quarantined (${e(q.reason ?? '')}): scheduled cycles back off until ${e(time(q.nextAttemptAt))}. ` +
        `First failure: ${e(q.startedBy?.error ?? q.lastError ?? '')}. Fix the cause; a successful <code>entrasync sync</code> lifts the quarantine.</p>`,
    );
  }
  if (doc.deletions.held) {
    out.push(
      `<p class="notice">${num(doc.deletions.count)} disables and deletes are held by the deletion threshold: ` +
        `review them with <code>entrasync status</code>, then <code>entrasync approve-deletions</code> or <code>entrasync reject-deletions</code>.</p>`,
    );
  }
  if (doc.lastError) {
    out.push(
      `<p class="notice">Last cycle failed (${e(time(doc.lastError.at))}): ${e(doc.lastError.message)}</p>`,
    );
  }
  return out.join('');
}

function cyclesTable(doc: PageDocument): string {
  if (doc.lastCycles.length === 0) return '';
  const rows = doc.lastCycles.map((c) => {
    const counts = Object.entries(c.counts)
      .filter(([, n]) => n > 0)
      .map(([a, n]) => `${num(n)} ${e(a)}`)
      .join(', ');
    return (
      `<tr class="${e(c.status)}"><td>${e(time(c.startedAt))}</td><td>${e(c.kind)}${c.dryRun ? ' (dry run)' : ''}</td>` +
      `<td>${e(c.status)}</td><td class="n">${c.durationMs === null ? '–' : duration(c.durationMs / 1000)}</td>` +
      // A running cycle records its counts and requests when it ends: the card above has them live.
      (c.status === 'running'
        ? `<td>in progress (above)</td><td class="n">–</td>`
        : `<td>${counts || '–'}</td><td class="n">${num(c.graphRequests)}</td>`) +
      `<td>${e(c.error ?? '')}</td></tr>`
    );
  });
  return (
    `<table id="cycles"><caption>Last cycles</caption><thead><tr><th>started</th><th>kind</th><th>status</th>` +
    `<th>duration</th><th>changes</th><th>Graph requests</th><th>error</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

function heldTable(doc: PageDocument, showUsers: boolean): string {
  if (doc.deletions.changes.length === 0) return '';
  const rows = doc.deletions.changes.map(
    (c) =>
      `<tr><td>${e(c.kind)}</td>${showUsers ? `<td class="user">${e(c.userName ?? '')}</td>` : ''}<td><code>${e(c.entraId)}</code></td>` +
      `<td>${e(time(c.stagedAt))}</td><td>${c.rejected ? 'rejected' : 'held'}</td></tr>`,
  );
  return (
    `<table id="held-changes"><caption>Held disables and deletes</caption><thead><tr><th>change</th>` +
    `${showUsers ? '<th>userName</th>' : ''}<th>Entra id</th><th>staged</th><th>state</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

function failingTable(doc: PageDocument, showUsers: boolean): string {
  if (doc.failingUsers.users.length === 0) return '';
  const rows = doc.failingUsers.users.map(
    (u) =>
      `<tr><td><code>${e(u.entraId)}</code></td><td class="n">${num(u.failures)}</td><td>${e(time(u.retryAfter))}</td>` +
      `${showUsers ? `<td class="user">${e(u.lastError ?? '')}</td>` : ''}</tr>`,
  );
  return (
    `<table id="failing-users"><caption>Failing users</caption><thead><tr><th>Entra id</th><th>failures</th>` +
    `<th>next retry</th>${showUsers ? '<th>error</th>' : ''}</tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

/**
 * The status page: the portal's "Current Status" from the status document, server-rendered, with
 * no script and nothing loaded from elsewhere; it reloads itself every few seconds.
 */
export function renderStatusPage(doc: PageDocument, options: PageOptions): string {
  const now = options.now ?? Date.now();
  const refresh = options.refreshSeconds ?? 5;
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta http-equiv="refresh" content="${refresh}"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>entrasync status</title><style>${STYLESHEET}</style></head><body>` +
    `<header><h1>entrasync · Current Status</h1><p class="muted">${e(doc.store.kind)} store · ` +
    `${doc.store.leader ? `leader ${e(doc.store.leader)}` : 'no cycle lease held'} · as of ${e(time(new Date(now).toISOString()))} · reloads every ${refresh} s</p></header>` +
    `<main>${running(doc)}${notices(doc)}${tiles(doc, now)}` +
    `<section id="chart"><h2>Last cycles</h2>${cycleChart(doc.lastCycles)}</section>` +
    `${cyclesTable(doc)}${heldTable(doc, options.showUsers)}${failingTable(doc, options.showUsers)}</main>` +
    // Relative links: the page keeps working behind a path prefix (kubectl proxy, an ingress).
    `<footer class="muted">JSON: <a href="status">/status</a> · <a href="metrics">/metrics</a> · <a href="readyz">/readyz</a>` +
    `${options.showUsers ? '' : ' · userNames hidden (ENTRASYNC_HTTP_SHOW_USERS=1 shows them)'}</footer></body></html>\n`
  );
}
