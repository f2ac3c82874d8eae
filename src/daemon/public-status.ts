import type { StatusDocument } from '../sync/status.js';

/**
 * The /status document: the `status --json` document copied field by field, so a field reaches the
 * unauthenticated endpoint only once it is listed here. What a user's data can put into free text
 * (a failing user's error quotes the conflicting userName or mail) is left out whole, not cut out
 * of the text by a pattern. Cycle errors stay: they describe Graph, the store or the configuration.
 */
export function publicStatus(s: StatusDocument): StatusDocument {
  return {
    store: { kind: s.store.kind, leader: s.store.leader },
    lastCycles: s.lastCycles.map(cycleFields),
    onDemandRuns: s.onDemandRuns.map(cycleFields),
    lastSuccessfulCycle: s.lastSuccessfulCycle && {
      id: s.lastSuccessfulCycle.id,
      endedAt: s.lastSuccessfulCycle.endedAt,
      ageSeconds: s.lastSuccessfulCycle.ageSeconds,
    },
    users: { ...s.users },
    groups: { ...s.groups },
    deltaState: { ...s.deltaState },
    pendingUsers: s.pendingUsers,
    cycleRunning: s.cycleRunning && { owner: s.cycleRunning.owner, until: s.cycleRunning.until },
    // Phase, counters and times only: nothing of a user.
    progress: s.progress && {
      cycleId: s.progress.cycleId,
      kind: s.progress.kind,
      phase: s.progress.phase,
      startedAt: s.progress.startedAt,
      updatedAt: s.progress.updatedAt,
      usersInScope: s.progress.usersInScope,
      pagesRead: s.progress.pagesRead,
      usersRead: s.progress.usersRead,
      usersWritten: s.progress.usersWritten,
      done: s.progress.done,
      expected: s.progress.expected,
      ratePerSecond: s.progress.ratePerSecond,
      etaSeconds: s.progress.etaSeconds,
      counts: { ...s.progress.counts },
      graphRequests: s.progress.graphRequests,
    },
    lastError: s.lastError && {
      cycleId: s.lastError.cycleId,
      at: s.lastError.at,
      message: s.lastError.message,
    },
    quarantine: {
      quarantined: s.quarantine.quarantined,
      reason: s.quarantine.reason,
      consecutiveFailures: s.quarantine.consecutiveFailures,
      lastError: s.quarantine.lastError,
      nextAttemptAt: s.quarantine.nextAttemptAt,
      startedBy: s.quarantine.startedBy && {
        cycleId: s.quarantine.startedBy.cycleId,
        at: s.quarantine.startedBy.at,
        error: s.quarantine.startedBy.error,
        failureClass: s.quarantine.startedBy.failureClass,
      },
      failures: { ...s.quarantine.failures },
    },
    deletions: {
      held: s.deletions.held,
      count: s.deletions.count,
      rejected: s.deletions.rejected,
      changes: s.deletions.changes.map((c) => ({
        entraId: c.entraId,
        kind: c.kind,
        cycleId: c.cycleId,
        stagedAt: c.stagedAt,
        rejected: c.rejected,
      })),
    },
    failingUsers: {
      count: s.failingUsers.count,
      users: s.failingUsers.users.map((u) => ({
        entraId: u.entraId,
        failures: u.failures,
        lastError: null,
        retryAfter: u.retryAfter,
      })),
    },
    failingGroups: { count: s.failingGroups.count },
  };
}

/** A cycle's fields (of lastCycles and of onDemandRuns). */
function cycleFields(c: StatusDocument['onDemandRuns'][number]): StatusDocument['onDemandRuns'][number] {
  return {
    id: c.id,
    kind: c.kind,
    dryRun: c.dryRun,
    startedAt: c.startedAt,
    endedAt: c.endedAt,
    status: c.status,
    counts: { ...c.counts },
    graphRequests: c.graphRequests,
    error: c.error,
    failureClass: c.failureClass,
    durationMs: c.durationMs,
  };
}
