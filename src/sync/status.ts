import type { CycleRecord, UserStore } from '../store/index.js';
import { quarantineState, type QuarantineState } from '../safety/quarantine.js';
import type { CycleProgress } from './progress.js';

export interface StatusDocument {
  /** Which store this is; `leader`: the process holding the cycle lease now (a cycle runs there). */
  store: { kind: 'sqlite' | 'postgres'; leader: string | null };
  /** The job's cycles, newest first; on-demand runs are listed apart and never the job's last error. */
  lastCycles: CycleSummary[];
  /** `entrasync provision` runs, newest first. */
  onDemandRuns: CycleSummary[];
  lastSuccessfulCycle: { id: string; endedAt: string | null; ageSeconds: number | null } | null;
  users: { total: number; active: number; inactive: number; linked: number; local: number };
  /** Rows of the `groups` table (linked to Entra, or the application's own) and of `group_members`. */
  groups: { total: number; linked: number; local: number; memberships: number };
  deltaState: { usersSavedAt: string | null; usersAgeSeconds: number | null; groupsSavedAt: string | null };
  pendingUsers: number;
  cycleRunning: { owner: string; until: string } | null;
  /** The running cycle's progress, as its process last wrote it (about every second); null when none runs. */
  progress: CycleProgress | null;
  lastError: { cycleId: string; at: string; message: string } | null;
  quarantine: QuarantineState;
  /** Disables and deletes held by the accidental-deletion threshold. */
  deletions: {
    held: boolean;
    count: number;
    rejected: number;
    changes: {
      entraId: string;
      kind: string;
      cycleId: string;
      stagedAt: string;
      rejected: boolean;
      userName?: string | null;
    }[];
  };
  /** Users whose change failed and who are retried with growing spacing (escrow). */
  failingUsers: {
    count: number;
    users: {
      entraId: string;
      /** Personal data: only with `personal` (the CLI). */
      userName?: string | null;
      failures: number;
      lastError: string | null;
      retryAfter: string | null;
    }[];
  };
  /** Groups whose change failed and that are retried with growing spacing, like failing users. */
  failingGroups: { count: number };
}

type CycleSummary = Omit<CycleRecord, 'error'> & { durationMs: number | null; error: string | null };

const summary = (c: CycleRecord): CycleSummary => ({
  ...c,
  durationMs: c.endedAt ? Date.parse(c.endedAt) - Date.parse(c.startedAt) : null,
});

export interface StatusOptions {
  now?: number;
  /** userNames of held changes; off for the HTTP /status endpoint, which carries no personal data. */
  personal?: boolean;
}

const age = (iso: string | null, now: number) =>
  iso ? Math.max(0, Math.round((now - Date.parse(iso)) / 1000)) : null;

/** Like the portal's "Current Status". No personal data: counts, times and error messages only. */
export async function buildStatus(
  store: UserStore,
  opts: StatusOptions | number = {},
): Promise<StatusDocument> {
  const options = typeof opts === 'number' ? { now: opts } : opts;
  const now = options.now ?? Date.now();
  // The job's cycles only: an on-demand run neither pushes them out nor becomes the job's last error.
  const cycles = await store.cycles.recent(10, 'job');
  const onDemand = await store.cycles.recent(5, 'on-demand');
  const staged = await store.staged.counts();
  const counts = await store.users.counts();
  const groups = await store.groups.counts();
  const last = await store.cycles.lastSucceeded();
  const failed = cycles.find((c) => c.status === 'failed' || c.status === 'aborted');
  const usersSavedAt = await store.state.get('users_delta_saved_at');
  const lease = await store.leaseHolder(now);
  const changes = await store.staged.list(100);
  const failing = await store.pending.failing(100);
  return {
    store: { kind: store.kind, leader: lease?.owner ?? null },
    lastCycles: cycles.map(summary),
    onDemandRuns: onDemand.map(summary),
    lastSuccessfulCycle: last
      ? { id: last.id, endedAt: last.endedAt, ageSeconds: age(last.endedAt, now) }
      : null,
    users: { ...counts, inactive: counts.total - counts.active, local: counts.total - counts.linked },
    groups: { ...groups, local: groups.total - groups.linked },
    deltaState: {
      usersSavedAt,
      usersAgeSeconds: age(usersSavedAt, now),
      groupsSavedAt: await store.state.get('groups_delta_saved_at'),
    },
    pendingUsers: await store.pending.count(),
    cycleRunning: lease ? { owner: lease.owner, until: new Date(lease.expiresAt).toISOString() } : null,
    progress: await runningProgress(store, lease?.owner ?? null),
    lastError:
      failed && (!last || failed.startedAt > last.startedAt)
        ? {
            cycleId: failed.id,
            at: failed.endedAt ?? failed.startedAt,
            message: failed.error ?? failed.status,
          }
        : null,
    quarantine: await quarantineState(store),
    deletions: {
      held: staged.held > 0,
      count: staged.total,
      rejected: staged.rejected,
      changes: changes.map((c) => ({
        entraId: c.entraId,
        kind: c.kind,
        cycleId: c.cycleId,
        stagedAt: c.stagedAt,
        rejected: c.rejected,
        ...(options.personal ? { userName: c.userName } : {}),
      })),
    },
    failingUsers: {
      count: await store.pending.failingCount(),
      users: failing.map(({ userName, ...u }) => ({
        ...u,
        // The error quotes the user's data (a conflicting userName, a mail): only for the CLI.
        lastError: options.personal ? u.lastError : null,
        ...(options.personal ? { userName } : {}),
      })),
    },
    failingGroups: { count: await store.groups.failingCount() },
  };
}

/** The lease holder's progress record; a leftover of a process that no longer holds the lease is not. */
async function runningProgress(store: UserStore, holder: string | null): Promise<CycleProgress | null> {
  if (holder === null) return null;
  const record = await store.progress.read();
  return record && record.owner === holder ? (record.progress as unknown as CycleProgress) : null;
}
