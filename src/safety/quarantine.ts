import type { CycleRecord, Store } from '../store/index.js';

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
export function quarantineState(store: Store): QuarantineState {
  // Aborted cycles (the process was stopped or killed) say nothing about the source: skipped.
  const recent = store.cycles
    .recent(50)
    .filter((c) => !c.dryRun && c.kind !== 'on-demand' && c.status !== 'running' && c.status !== 'aborted');
  let failures = 0;
  let reason: QuarantineState['reason'] = null;
  let lastError: string | null = null;
  let lastFailureAt: number | null = null;
  for (const c of recent) {
    const escrow = c.status === 'succeeded' && failedUsersShare(c);
    if (c.status === 'succeeded' && !escrow) break;
    failures++;
    if (failures === 1) {
      reason = escrow ? 'EncounteredEscrowProportionThreshold' : 'EncounteredQuarantineException';
      lastError = escrow ? `${c.counts.error} users failed in cycle ${c.id}` : (c.error ?? c.status);
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
    };
  }
  const delay = Math.min(DAY, HOUR * 2 ** (failures - QUARANTINE_AFTER_FAILURES + 1));
  return {
    quarantined: true,
    reason,
    consecutiveFailures: failures,
    lastError,
    nextAttemptAt: new Date(lastFailureAt + delay).toISOString(),
  };
}

/** Whether a scheduled tick should run a cycle now. */
export function scheduledCycleDue(
  store: Store,
  now = Date.now(),
): { due: boolean; quarantine: QuarantineState } {
  const quarantine = quarantineState(store);
  return { due: !quarantine.quarantined || Date.parse(quarantine.nextAttemptAt!) <= now, quarantine };
}
