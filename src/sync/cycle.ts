import { createHash, randomUUID } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { CompiledMappings } from '../mapping/index.js';
import type { PlannedAction } from '../plan/types.js';
import { resolveServicePrincipalId } from '../source/assignments.js';
import { userSelect } from '../source/users.js';
import { LeaseLostError, StoreWaitAborted, type CycleKind } from '../store/index.js';
import {
  acquireCycleLease,
  cycleContext,
  groupCountsRecord,
  leaseOwner,
  type ActionCounts,
  type CycleDeps,
  type GroupCounts,
} from './context.js';
import { drainPending } from './pipeline.js';
import { settleStagedChanges } from './staged-changes.js';
import { failureClass } from '../safety/quarantine.js';
import { reconcileUnseen } from './reconcile.js';
import { syncGroups, syncScope } from './scope.js';
import { groupProvisioning, groupProvisioningOf } from './group-settings.js';
import { provisionGroups } from './groups.js';
import type { GroupAction } from '../plan/groups.js';
import type { UsersReadAhead } from './read-ahead.js';
import { readUsersAhead, syncUsers } from './users.js';
import { ProgressTracker, type CycleProgress } from './progress.js';

/** How often the running cycle's progress is written for other processes, and logged. */
export const PROGRESS_STORE_MS = 1000;
export const PROGRESS_LOG_MS = 5000;
/** Users in scope are counted up to this many. */
export const MAX_COUNTED = 10_000_000;

export interface CycleOptions {
  /** Forget the delta state first: Entra's "restart provisioning". */
  forced?: boolean;
  dryRun?: boolean;
  onAction?: (action: PlannedAction) => void;
  /** Every planned group change (the dry-run listing). */
  onGroupAction?: (action: GroupAction) => void;
  now?: () => Date;
  /** approve-deletions: apply the held disables and deletes that still hold. */
  approve?: { cycleId?: string };
  /** Who holds the lease, for the "waiting" message of another process. */
  owner?: string;
  /** The cycle's progress, a few times a second and once at its end (the CLI's progress bar). */
  onProgress?: (progress: CycleProgress) => void;
}

export interface CycleResult {
  cycleId: string;
  kind: CycleKind;
  status: 'succeeded' | 'failed';
  counts: ActionCounts;
  groupCounts: GroupCounts;
  graphRequests: number;
  durationMs: number;
  error?: Error;
}

export type { CycleDeps } from './context.js';

/** Everything that, when it changes, means every user must be evaluated again (Entra: new initial cycle). */
export function syncFingerprint(config: Config, mappings: CompiledMappings): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        mappings: mappings.fingerprint,
        select: userSelect(mappings.sourceAttributes),
        scope: config.scope,
        nested: config.settings.scope.expandNestedGroups,
        actions: config.settings.targetActions,
        groups: groupProvisioningOf(config.settings)?.fingerprint ?? null,
      }),
    )
    .digest('hex');
}

/**
 * One sync cycle: scope (groups, assignments) → users round → reconciliation → pending users →
 * the new deltaLink. A dry run does all of it inside one transaction and rolls it back.
 */
export async function runCycle(deps: CycleDeps, options: CycleOptions = {}): Promise<CycleResult> {
  const { config, store, api, log } = deps;
  const cycleId = randomUUID();
  const lease = await acquireCycleLease(deps, options.owner ?? leaseOwner(`cycle ${cycleId}`));
  const started = Date.now();
  let publishing: Promise<void> | null = null;
  const ctx = cycleContext(deps, cycleId, options);
  const counts = ctx.counts;
  const requestsBefore = api.stats.requests;
  let kind: CycleKind = 'incremental';
  let readAhead = null as UsersReadAhead | null;
  const progress = trackProgress();
  ctx.progress = progress;
  try {
    await store.write(() => store.cycles.markAbandoned(), 'cycle start');
    // A dry run does all of it inside one transaction and rolls it back.
    if (options.dryRun) await store.dryRun(cycle);
    else await cycle();
    return await finish('succeeded');
  } catch (error) {
    // Nothing of a failed cycle may still be reading (or stashing) when it reports.
    await readAhead?.cancel();
    return await finish('failed', error as Error);
  } finally {
    await lease.release();
  }

  async function cycle(): Promise<void> {
    const fingerprint = syncFingerprint(config, deps.mappings);
    const fingerprintChanged = (await store.state.get('fingerprint')) !== fingerprint;
    const everSynced = (await store.state.get('users_delta_link')) !== null;
    kind = options.forced ? 'forced' : everSynced && !fingerprintChanged ? 'incremental' : 'initial';
    progress.kind = kind;
    await store.write(async () => {
      if (options.forced) {
        // Restart: held deletions are forgotten too; the full enumeration plans them afresh.
        await store.state.forgetDeltaState();
        await store.staged.clear();
      }
      await store.cycles.start(cycleId, kind, !!options.dryRun);
    }, 'cycle start');
    if (fingerprintChanged && everSynced && !options.forced) {
      log.warn(
        { cycleId },
        'mappings or scope settings changed since the last cycle; evaluating every user again',
      );
    }
    log.info({ cycleId, kind, dryRun: !!options.dryRun }, 'cycle started');

    let generation: number | null = null;
    const nextGeneration = async () =>
      (generation ??= await store.write(() => store.state.nextGeneration(), 'full round start'));

    const link = kind === 'incremental' ? await store.state.get('users_delta_link') : null;
    // Changed settings: groups/delta is read in full again (its link selects the old properties).
    const groupsRound = { full: fingerprintChanged && everSynced };
    let readAfterScope = false;
    if (config.scope === 'assigned') {
      const spId = await resolveServicePrincipalId(api, config.servicePrincipalId, config.clientId);
      readAhead = await readUsersAhead(ctx, link);
      const { mayHaveLeft } = await syncScope(ctx, spId, nextGeneration, groupsRound);
      readAfterScope = mayHaveLeft && readAhead !== null;
      // The estimate of a full round, one query; an incremental cycle (often a few seconds, hourly)
      // is not made to count a million rows for it.
      if (kind !== 'incremental') progress.usersInScope(await store.scope.relevantUserCount(MAX_COUNTED));
    } else if (groupProvisioning(ctx)) {
      // Scope all reads groups only to provision them.
      await syncGroups(ctx, nextGeneration, groupsRound);
    }
    // Entra's initial cycle evaluates every group again, as it does every user.
    if (kind !== 'incremental' && groupProvisioning(ctx))
      await store.write(() => store.groups.markAllForPlan(), 'groups');
    // A full round reads at least the users in scope (a tenant round may list more: then unknown).
    progress.phase('users', kind === 'incremental' ? null : progress.inScope);
    let round = await syncUsers(ctx, link, nextGeneration, readAhead);
    if (round.full) {
      progress.phase('reconcile');
      await reconcileUnseen(ctx, round.generation);
    }
    // The users round was read while the scope was: a user deleted in that window is missing from
    // the scope but not yet deleted in the round, and would be released as "left scope" (§6.4),
    // its delete then ignored. The changes since the round, read now, tell the two apart.
    if (readAfterScope) {
      log.info({ cycleId }, 'users read again: the scope lost users while the users round was read');
      round = { ...round, deltaLink: (await syncUsers(ctx, round.deltaLink, nextGeneration)).deltaLink };
    }
    progress.phase('pending', await store.pending.count());
    await drainPending(ctx);
    if (groupProvisioning(ctx)) {
      progress.phase('groups');
      await provisionGroups(ctx);
    }
    progress.phase('settle', (await store.staged.counts()).total);
    await settleStagedChanges(ctx, { approve: options.approve });
    // Rows the settlement deleted leave their reports' manager references stale: resolved now.
    if (ctx.mappings.usesManager) await drainPending(ctx);
    // Another process took the lease (it ran out while the application held the store): this cycle's
    // delta link would overwrite the newer cycle's; failing leaves the next cycle to read from the old one.
    if (lease.lost) throw new Error('the cycle lease passed to another process during this cycle');
    await store.write(
      () =>
        store.state.set({
          users_delta_link: round.deltaLink,
          users_delta_saved_at: new Date().toISOString(),
          fingerprint,
        }),
      'delta link',
    );
  }

  /**
   * The tracker and its listeners: the log line, the record other processes read (not in a dry
   * run, which writes nothing), the caller's (the progress bar).
   */
  function trackProgress(): ProgressTracker {
    const tracker = new ProgressTracker(cycleId, {
      counts,
      graphRequests: () => api.stats.requests - requestsBefore,
    });
    tracker.subscribe(
      (p) => log.info({ ...progressLine(p), dryRun: !!options.dryRun }, 'cycle progress'),
      PROGRESS_LOG_MS,
    );
    if (!options.dryRun) {
      tracker.subscribe((p) => {
        if (publishing) return; // the last write is still under way (a slow database): skip this one
        publishing = store.progress
          .publish({ cycleId, owner: lease.owner, progress: { ...p } })
          .catch((e: Error) => log.debug({ cycleId, error: e.message }, 'progress not recorded'))
          .finally(() => (publishing = null));
      }, PROGRESS_STORE_MS);
    }
    if (options.onProgress) tracker.subscribe(options.onProgress, 200);
    tracker.start();
    return tracker;
  }

  /** The tracker stopped, the caller's last snapshot, and the record removed (no cycle runs now). */
  async function endProgress(): Promise<void> {
    progress.stop();
    options.onProgress?.(progress.snapshot());
    await publishing;
    if (!options.dryRun)
      await store.progress
        .clear(cycleId)
        .catch((e: Error) => log.debug({ cycleId, error: e.message }, 'progress not cleared'));
  }

  async function finish(status: 'succeeded' | 'failed', error?: Error): Promise<CycleResult> {
    await endProgress();
    const graphRequests = api.stats.requests - requestsBefore;
    const durationMs = Date.now() - started;
    if (!options.dryRun) {
      try {
        await store.write(async () => {
          if (!(await store.cycles.get(cycleId))) await store.cycles.start(cycleId, kind, false);
          // Stopped while waiting for the application's lock: cut short, not a failure of the sync.
          const recorded = error instanceof StoreWaitAborted ? 'aborted' : status;
          await store.cycles.finish(
            cycleId,
            recorded,
            { ...counts, ...groupCountsRecord(ctx.groupCounts) },
            graphRequests,
            error?.message,
            error && recorded === 'failed' ? failureClass(error) : undefined,
          );
        }, 'cycle end');
      } catch (recordError) {
        // Stopping while the store is locked, or fenced off (another replica holds the lease now):
        // the row stays 'running' and the next cycle marks it aborted.
        if (!(recordError instanceof StoreWaitAborted) && !(recordError instanceof LeaseLostError))
          throw recordError;
      }
    }
    const groupCounts = ctx.groupCounts;
    const line = {
      cycleId,
      kind,
      status,
      counts,
      ...(Object.values(groupCounts).some((n) => n > 0) ? { groupCounts } : {}),
      graphRequests,
      durationMs,
      dryRun: !!options.dryRun,
    };
    if (error) log.error({ ...line, error: error.message, errorKind: error.name }, 'cycle failed');
    else log.info(line, 'cycle finished');
    return { cycleId, kind, status, counts, groupCounts, graphRequests, durationMs, error };
  }
}

/** The log line's fields: where the cycle is, and the rate and time left once they are known. */
function progressLine(p: CycleProgress): Record<string, unknown> {
  return {
    cycleId: p.cycleId,
    kind: p.kind,
    phase: p.phase,
    done: p.done,
    expected: p.expected,
    percent: p.expected ? Math.floor((p.done / p.expected) * 100) : null,
    ratePerSecond: p.ratePerSecond,
    etaSeconds: p.etaSeconds,
    usersInScope: p.usersInScope,
    pagesRead: p.pagesRead,
    usersRead: p.usersRead,
    usersWritten: p.usersWritten,
    graphRequests: p.graphRequests,
  };
}
