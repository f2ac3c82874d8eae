import type { UserStore } from '../store/index.js';
import { quarantineState } from '../safety/quarantine.js';

export interface Readiness {
  ready: boolean;
  reason: string;
  lastCycle: { id: string; status: string; endedAt: string | null } | null;
  lastSuccessAgeSeconds: number | null;
  maxAgeSeconds: number;
}

/**
 * Ready only when the last finished cycle succeeded, the last success is recent, no deletions are
 * held and the job is not quarantined, so an orchestrator notices a sync that fails, waits for an
 * operator, or has silently stopped. Read from the store, so a cycle
 * run by `entrasync sync/resync` in another process counts too. On-demand provisioning of one user
 * and dry runs say nothing about the sync and are ignored.
 */
export async function readiness(
  store: UserStore,
  maxAgeSeconds: number,
  now = Date.now(),
): Promise<Readiness> {
  const cycles = (await store.cycles.recent(50, 'job')).filter((c) => !c.dryRun);
  const last = cycles.find((c) => c.status !== 'running');
  // Beyond 50 cycles back any success will do: readiness fails on age long before that matters.
  const success = cycles.find((c) => c.status === 'succeeded') ?? (await store.cycles.lastSucceeded());
  const age = success?.endedAt ? Math.max(0, Math.round((now - Date.parse(success.endedAt)) / 1000)) : null;
  const base = {
    lastCycle: last ? { id: last.id, status: last.status, endedAt: last.endedAt } : null,
    lastSuccessAgeSeconds: age,
    maxAgeSeconds,
  };
  if (!last) return { ready: false, reason: 'no cycle has finished yet', ...base };
  const held = await store.staged.counts();
  if (held.held > 0) {
    return {
      ready: false,
      reason: `${held.held} disables and deletes are held by the deletion threshold (entrasync approve-deletions or reject-deletions)`,
      ...base,
    };
  }
  const quarantine = await quarantineState(store);
  if (quarantine.quarantined) {
    return { ready: false, reason: `quarantined (${quarantine.reason}): ${quarantine.lastError}`, ...base };
  }
  if (last.status !== 'succeeded') return { ready: false, reason: `the last cycle ${last.status}`, ...base };
  if (age === null || age > maxAgeSeconds) {
    return {
      ready: false,
      reason: `the last successful cycle is ${age ?? '?'} s old (ENTRASYNC_READY_MAX_AGE ${maxAgeSeconds} s)`,
      ...base,
    };
  }
  return { ready: true, reason: 'the last cycle succeeded', ...base };
}
