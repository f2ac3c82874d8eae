/**
 * How far the running cycle is: its phase, what is done of it and, where known, what is expected.
 * The cycle bumps counters in memory (cheap, on the hot path); a timer hands snapshots to the
 * listeners (the log line, the store record read by `status` and /metrics, the CLI's bar), each
 * throttled as it needs.
 */

export const PHASES = ['scope', 'users', 'reconcile', 'pending', 'groups', 'settle'] as const;
export type Phase = (typeof PHASES)[number];

/** The `progress` of the status document (shared shape: the status page renders it too). */
export interface CycleProgress {
  cycleId: string;
  kind: string;
  phase: Phase;
  startedAt: string;
  updatedAt: string;
  usersInScope: number | null;
  pagesRead: number;
  usersRead: number;
  usersWritten: number;
  done: number;
  expected: number | null;
  ratePerSecond: number | null;
  etaSeconds: number | null;
  counts: Record<string, number>;
  graphRequests: number;
}

export type ProgressListener = (progress: CycleProgress) => void;

/** Actions that change a user (skips and errors do not). */
const WRITES = ['create', 'link', 'update', 'disable', 'enable', 'delete'];

/** A rate needs this much of the phase behind it, or it is noise. */
const MIN_RATE_SECONDS = 1;

export interface TrackerSources {
  counts: Record<string, number>;
  /** Graph requests of this cycle so far. */
  graphRequests: () => number;
  now?: () => number;
}

export class ProgressTracker {
  kind = 'incremental';
  private current: Phase = 'scope';
  private phaseStarted: number;
  private done = 0;
  private expected: number | null = null;
  private scopeCount: number | null = null;
  private pages = 0;
  private users = 0;
  private readonly listeners: { fn: ProgressListener; everyMs: number; last: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly started: number;

  constructor(
    readonly cycleId: string,
    private readonly sources: TrackerSources,
  ) {
    this.now = sources.now ?? Date.now;
    this.started = this.now();
    this.phaseStarted = this.started;
  }

  /** A new phase; `expected` when its size is known up front. */
  phase(phase: Phase, expected: number | null = null): void {
    this.current = phase;
    this.phaseStarted = this.now();
    this.done = 0;
    this.expected = expected;
  }

  /** What the current phase expects, once known (the users in scope of a round read by id). */
  expect(expected: number | null): void {
    this.expected = expected;
  }

  usersInScope(count: number | null): void {
    this.scopeCount = count;
  }

  get inScope(): number | null {
    return this.scopeCount;
  }

  /** A page of Graph users (or a batch read by id): `users` elements read. */
  pageRead(users: number): void {
    this.pages++;
    this.users += users;
    if (this.current === 'users') this.done += users;
  }

  /** Work done in the current phase (reconciled users, pending users planned, staged changes settled). */
  step(n = 1): void {
    this.done += n;
  }

  snapshot(): CycleProgress {
    const now = this.now();
    const { counts } = this.sources;
    const seconds = (now - this.phaseStarted) / 1000;
    // Beyond the estimate (a tenant round lists more users than are in scope): unknown, not 100 %.
    const expected = this.expected !== null && this.done <= this.expected ? this.expected : null;
    const rate = seconds >= MIN_RATE_SECONDS && this.done > 0 ? this.done / seconds : null;
    return {
      cycleId: this.cycleId,
      kind: this.kind,
      phase: this.current,
      startedAt: new Date(this.started).toISOString(),
      updatedAt: new Date(now).toISOString(),
      usersInScope: this.scopeCount,
      pagesRead: this.pages,
      usersRead: this.users,
      usersWritten: WRITES.reduce((sum, action) => sum + (counts[action] ?? 0), 0),
      done: this.done,
      expected,
      ratePerSecond: rate === null ? null : Math.round(rate * 10) / 10,
      etaSeconds: rate !== null && expected !== null ? Math.ceil((expected - this.done) / rate) : null,
      counts: Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0)),
      graphRequests: this.sources.graphRequests(),
    };
  }

  /** `fn` gets a snapshot at most every `everyMs` while the tracker runs, and a last one at stop. */
  subscribe(fn: ProgressListener, everyMs: number): void {
    this.listeners.push({ fn, everyMs, last: this.now() });
  }

  start(tickMs = 250): void {
    if (this.timer || this.listeners.length === 0) return;
    this.timer = setInterval(() => this.publish(false), tickMs);
    this.timer.unref();
  }

  /** Stops the timer; `final` hands the listeners one last snapshot (the bar reaches its end). */
  stop(final = false): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (final) this.publish(true);
  }

  private publish(all: boolean): void {
    const now = this.now();
    let snapshot: CycleProgress | undefined;
    for (const l of this.listeners) {
      if (!all && now - l.last < l.everyMs) continue;
      l.last = now;
      snapshot ??= this.snapshot();
      try {
        l.fn(snapshot);
      } catch {
        // A listener's failure (a closed terminal) must not reach the cycle.
      }
    }
  }
}

/** "users 12,000 / 20,000 (60 %), 1,400/s, about 6 s left": one line for people. */
export function describeProgress(p: CycleProgress): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const parts = [
    p.expected !== null
      ? `${p.phase} ${n(p.done)} / ${n(p.expected)} (${p.expected > 0 ? Math.floor((p.done / p.expected) * 100) : 100} %)`
      : `${p.phase} ${n(p.done)}`,
  ];
  if (p.ratePerSecond !== null) parts.push(`${n(Math.round(p.ratePerSecond))}/s`);
  if (p.etaSeconds !== null) parts.push(`about ${formatSeconds(p.etaSeconds)} left`);
  return parts.join(', ');
}

export function formatSeconds(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
