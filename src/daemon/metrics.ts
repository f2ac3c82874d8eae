import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GraphStats } from '../graph/client.js';
import { leaseOwner, type UserStore } from '../store/index.js';
import type { CycleResult } from '../sync/cycle.js';
import { buildStatus } from '../sync/status.js';
import { PHASES, type CycleProgress } from '../sync/progress.js';
import { readiness } from './readiness.js';

export type SkipReason = 'busy' | 'lease' | 'quarantine';

/**
 * Prometheus metrics. Counters describe what this daemon did since it started; the gauges are read
 * from the store at scrape time, so they also reflect cycles run by `entrasync sync` elsewhere.
 * Only counts and ages: no label ever carries a user attribute.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly startedAt = Date.now();
  private readonly seenGraph = { requests: 0, throttled: 0, tokenRefreshes: 0 };
  private seenLockWaitSeconds = 0;

  private readonly cycles = new Counter({
    name: 'entrasync_cycles_total',
    help: 'Sync cycles run by this daemon, by result (succeeded, failed) and kind (initial, incremental, forced)',
    labelNames: ['result', 'kind'],
    registers: [this.registry],
  });
  private readonly changes = new Counter({
    name: 'entrasync_changes_total',
    help: 'Planned changes of the daemon cycles, by action (create, link, update, disable, enable, delete, skip, error)',
    labelNames: ['action'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'entrasync_cycle_duration_seconds',
    help: 'Duration of the daemon cycles',
    buckets: [0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
    registers: [this.registry],
  });
  private readonly ticksSkipped = new Counter({
    name: 'entrasync_ticks_skipped_total',
    help: 'Scheduled ticks that ran no cycle, by reason (busy: this daemon was in a cycle; lease: another process was; quarantine: backing off after failures)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly graphRequests = new Counter({
    name: 'entrasync_graph_requests_total',
    help: 'HTTP requests sent to Microsoft Graph, retries included',
    registers: [this.registry],
  });
  private readonly graphThrottled = new Counter({
    name: 'entrasync_graph_throttled_total',
    help: 'Graph answers that were throttling or unavailability (429, 503, 504)',
    registers: [this.registry],
  });
  private readonly graphTokenRefreshes = new Counter({
    name: 'entrasync_graph_token_refreshes_total',
    help: 'Fresh access tokens requested because Graph rejected a token before it expired (revoked, key rollover, clock skew)',
    registers: [this.registry],
  });
  private readonly users = new Gauge({
    name: 'entrasync_users',
    help: 'Users in the store, by state (active, inactive)',
    labelNames: ['state'],
    registers: [this.registry],
  });
  private readonly pending = new Gauge({
    name: 'entrasync_pending_users',
    help: 'Users whose changes are fetched but not yet applied (retried in the next cycle)',
    registers: [this.registry],
  });
  private readonly lastSuccessAge = new Gauge({
    name: 'entrasync_last_success_age_seconds',
    help: 'Seconds since the last successful cycle (since the daemon started, if none has succeeded yet)',
    registers: [this.registry],
  });
  private readonly deltaAge = new Gauge({
    name: 'entrasync_delta_state_age_seconds',
    help: 'Age of the saved delta link, by round; absent while there is none (the next cycle is a full one)',
    labelNames: ['round'],
    registers: [this.registry],
  });
  private readonly running = new Gauge({
    name: 'entrasync_cycle_running',
    help: '1 while a cycle holds the lease (this daemon or another entrasync process)',
    registers: [this.registry],
  });
  private readonly leader = new Gauge({
    name: 'entrasync_leader',
    help: '1 while this process holds the cycle lease (the replica running the cycle), else 0',
    registers: [this.registry],
  });
  private readonly quarantined = new Gauge({
    name: 'entrasync_quarantined',
    help: '1 while scheduled cycles back off after repeated failures',
    registers: [this.registry],
  });
  private readonly held = new Gauge({
    name: 'entrasync_deletions_held',
    help: 'Disables and deletes held by the accidental-deletion threshold (approve-deletions / reject-deletions)',
    registers: [this.registry],
  });
  private readonly failing = new Gauge({
    name: 'entrasync_failing_users',
    help: 'Users whose change failed and who are retried with growing spacing',
    registers: [this.registry],
  });
  private readonly failingGroups = new Gauge({
    name: 'entrasync_failing_groups',
    help: 'Groups whose change failed and that are retried with growing spacing',
    registers: [this.registry],
  });
  private readonly lockWaiting = new Gauge({
    name: 'entrasync_store_lock_waiting',
    help: "Writes of this daemon waiting now for the store's write lock, held by another connection (the application)",
    registers: [this.registry],
  });
  private readonly lockWaitSeconds = new Counter({
    name: 'entrasync_store_lock_wait_seconds_total',
    help: "Seconds this daemon's writes have waited for the store's write lock, the running waits included",
    registers: [this.registry],
  });
  private readonly phase = new Gauge({
    name: 'entrasync_cycle_phase',
    help: "The running cycle's phase (scope, users, reconcile, pending, settle): 1 for the current one, 0 for the others; absent while no cycle runs",
    labelNames: ['phase'],
    registers: [this.registry],
  });
  private readonly progressDone = new Gauge({
    name: 'entrasync_cycle_progress_done',
    help: "Work done in the running cycle's current phase (users read, checked, planned or settled); 0 while no cycle runs",
    registers: [this.registry],
  });
  private readonly progressExpected = new Gauge({
    name: 'entrasync_cycle_progress_expected',
    help: "Work expected in the running cycle's current phase, when known; 0 otherwise",
    registers: [this.registry],
  });
  private readonly usersRead = new Gauge({
    name: 'entrasync_cycle_users_read',
    help: 'Graph user elements read by the running cycle so far; 0 while no cycle runs',
    registers: [this.registry],
  });
  private readonly usersWritten = new Gauge({
    name: 'entrasync_cycle_users_written',
    help: 'Users whose change the running cycle has applied so far; 0 while no cycle runs',
    registers: [this.registry],
  });
  private readonly ready = new Gauge({
    name: 'entrasync_ready',
    help: '1 when /readyz answers 200',
    registers: [this.registry],
  });

  constructor(
    private readonly store: UserStore,
    private readonly graph: GraphStats,
    private readonly readyMaxAgeSeconds: number,
  ) {
    collectDefaultMetrics({ register: this.registry });
    // Series exist from the start, so rate() and increase() see the first cycle too.
    for (const result of ['succeeded', 'failed'])
      for (const kind of ['initial', 'incremental', 'forced']) this.cycles.inc({ result, kind }, 0);
    for (const reason of ['busy', 'lease', 'quarantine']) this.ticksSkipped.inc({ reason }, 0);
  }

  cycleFinished(result: CycleResult): void {
    this.cycles.inc({ result: result.status, kind: result.kind });
    for (const [action, n] of Object.entries(result.counts)) this.changes.inc({ action }, n);
    this.duration.observe(result.durationMs / 1000);
  }

  /** The running cycle's progress, from any process (the store's record); 0, and no phase, between cycles. */
  private setProgress(progress: CycleProgress | null): void {
    for (const gauge of [
      this.phase,
      this.progressDone,
      this.progressExpected,
      this.usersRead,
      this.usersWritten,
    ])
      gauge.reset();
    if (!progress) return;
    for (const phase of PHASES) this.phase.set({ phase }, phase === progress.phase ? 1 : 0);
    this.progressDone.set(progress.done);
    if (progress.expected !== null) this.progressExpected.set(progress.expected);
    this.usersRead.set(progress.usersRead);
    this.usersWritten.set(progress.usersWritten);
  }

  tickSkipped(reason: SkipReason): void {
    this.ticksSkipped.inc({ reason });
  }

  /** Prometheus text; the gauges are refreshed from the store first. */
  async render(now = Date.now()): Promise<string> {
    const status = await buildStatus(this.store, { now });
    this.users.set({ state: 'active' }, status.users.active);
    this.users.set({ state: 'inactive' }, status.users.inactive);
    this.pending.set(status.pendingUsers);
    this.lastSuccessAge.set(
      status.lastSuccessfulCycle?.ageSeconds ?? Math.round((now - this.startedAt) / 1000),
    );
    this.deltaAge.reset();
    if (status.deltaState.usersAgeSeconds !== null) {
      this.deltaAge.set({ round: 'users' }, status.deltaState.usersAgeSeconds);
    }
    const groupsSavedAt = status.deltaState.groupsSavedAt;
    if (groupsSavedAt) {
      this.deltaAge.set(
        { round: 'groups' },
        Math.max(0, Math.round((now - Date.parse(groupsSavedAt)) / 1000)),
      );
    }
    this.running.set(status.cycleRunning ? 1 : 0);
    this.setProgress(status.progress);
    this.leader.set(status.store.leader?.startsWith(leaseOwner('')) ? 1 : 0);
    this.quarantined.set(status.quarantine.quarantined ? 1 : 0);
    this.held.set(status.deletions.held ? status.deletions.count : 0);
    this.failing.set(status.failingUsers.count);
    this.failingGroups.set(status.failingGroups.count);
    this.ready.set((await readiness(this.store, this.readyMaxAgeSeconds, now)).ready ? 1 : 0);
    // The Graph client keeps running totals; counters only move forward, so add the difference.
    this.graphRequests.inc(this.graph.requests - this.seenGraph.requests);
    this.graphThrottled.inc(this.graph.throttled - this.seenGraph.throttled);
    this.graphTokenRefreshes.inc(this.graph.tokenRefreshes - this.seenGraph.tokenRefreshes);
    this.seenGraph.requests = this.graph.requests;
    this.seenGraph.throttled = this.graph.throttled;
    this.seenGraph.tokenRefreshes = this.graph.tokenRefreshes;
    const waits = this.store.lockWaits;
    const waited = waits.waitedSeconds(now);
    this.lockWaiting.set(waits.waiting);
    this.lockWaitSeconds.inc(Math.max(0, waited - this.seenLockWaitSeconds));
    this.seenLockWaitSeconds = Math.max(waited, this.seenLockWaitSeconds);
    return this.registry.metrics();
  }
}
