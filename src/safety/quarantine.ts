import { TokenEndpointUnavailableError } from '../auth/index.js';
import { GraphUnavailableError } from '../graph/errors.js';
import type { CycleRecord, FailureClass, UserStore } from '../store/index.js';

/** Failures in a row before scheduled cycles back off (Entra: "consistently fail"). */
export const QUARANTINE_AFTER_FAILURES = 3;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** Per-user failure share that quarantines, as Entra's escrow threshold (graph-semantics §6.8). */
export const ESCROW_PROPORTION = 0.4;
/** Below this many failed users, the proportion is not evaluated. */
export const ESCROW_MINIMUM = 10;

export interface QuarantineState {
  quarantined: boolean;
  reason: 'EncounteredQuarantineException' | 'EncounteredEscrowProportionThreshold' | null;
  /** Scheduled cycles that failed, or whose users mostly failed, since the last good one. */
  consecutiveFailures: number;
  lastError: string | null;
  /** When the next scheduled cycle may run; null when not quarantined. */
  nextAttemptAt: string | null;
  /** The first failure of the run that quarantined the job; null when not quarantined. */
  startedBy: {
    cycleId: string;
    at: string;
    error: string;
    /** `unknown` for failures recorded before entrasync kept their class. */
    failureClass: FailureClass | 'unknown';
  } | null;
  /** The failures since the last good cycle, by class. */
  failures: Record<FailureClass | 'unknown', number>;
}

/**
 * Persistent: retrying met the same answer and an operator must act (a refused credential, a
 * permission removed, a token Graph rejects even when fresh, a setting, a bug). Transient: the
 * source stayed unavailable through every retry (Graph, the token endpoint, the network, throttling,
 * a store locked by the application), and a later cycle may well succeed without anyone acting.
 */
export function failureClass(error: Error): FailureClass {
  if (error instanceof GraphUnavailableError || error instanceof TokenEndpointUnavailableError) {
    return 'transient';
  }
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return 'transient';
  return 'persistent';
}

function failedUsersShare(c: CycleRecord): boolean {
  const errors = c.counts.error ?? 0;
  const applied = ['create', 'link', 'update', 'disable', 'enable', 'delete'].reduce(
    (n, k) => n + (c.counts[k] ?? 0),
    0,
  );
  return errors >= ESCROW_MINIMUM && errors / (errors + applied) > ESCROW_PROPORTION;
}

/**
 * Quarantine as Entra does it: after repeated failures, scheduled cycles space out, doubling from
 * one hour up to once a day. The first good cycle lifts it. Commands run by an operator (sync,
 * resync) never consult this.
 */
export async function quarantineState(store: UserStore): Promise<QuarantineState> {
  // Aborted cycles (the process was stopped or killed) say nothing about the source: skipped. On-demand
  // runs are the operator's, not the job's: not even read, so many of them hide no job cycle.
  const recent = (await store.cycles.recent(50, 'job')).filter(
    (c) => !c.dryRun && c.status !== 'running' && c.status !== 'aborted',
  );
  let failures = 0;
  let reason: QuarantineState['reason'] = null;
  let lastError: string | null = null;
  let lastFailureAt: number | null = null;
  let first: NonNullable<QuarantineState['startedBy']> | null = null;
  const byClass: QuarantineState['failures'] = { persistent: 0, transient: 0, unknown: 0 };
  for (const c of recent) {
    const escrow = c.status === 'succeeded' && failedUsersShare(c);
    if (c.status === 'succeeded' && !escrow) break;
    failures++;
    const error = escrow ? `${c.counts.error} users failed in cycle ${c.id}` : (c.error ?? c.status);
    // Users that fail on their own data fail again however often the cycle is retried.
    const cls = escrow ? 'persistent' : (c.failureClass ?? 'unknown');
    byClass[cls]++;
    // Newest first: the last one seen is the run's first failure.
    first = { cycleId: c.id, at: c.endedAt ?? c.startedAt, error, failureClass: cls };
    if (failures === 1) {
      reason = escrow ? 'EncounteredEscrowProportionThreshold' : 'EncounteredQuarantineException';
      lastError = error;
      lastFailureAt = Date.parse(c.endedAt ?? c.startedAt);
    }
  }
  if (failures < QUARANTINE_AFTER_FAILURES || lastFailureAt === null) {
    return {
      quarantined: false,
      reason: null,
      consecutiveFailures: failures,
      lastError,
      nextAttemptAt: null,
      startedBy: null,
      failures: byClass,
    };
  }
  const delay = Math.min(DAY, HOUR * 2 ** (failures - QUARANTINE_AFTER_FAILURES + 1));
  return {
    quarantined: true,
    reason,
    consecutiveFailures: failures,
    lastError,
    nextAttemptAt: new Date(lastFailureAt + delay).toISOString(),
    startedBy: first,
    failures: byClass,
  };
}

/** Whether a scheduled tick should run a cycle now. */
export async function scheduledCycleDue(
  store: UserStore,
  now = Date.now(),
): Promise<{ due: boolean; quarantine: QuarantineState }> {
  const quarantine = await quarantineState(store);
  return { due: !quarantine.quarantined || Date.parse(quarantine.nextAttemptAt!) <= now, quarantine };
}
