import type { CompiledMappings } from '../mapping/index.js';
import type { GraphApi } from '../graph/api.js';
import type { Logger } from '../log.js';
import { leaseOwner, type CycleLease, type UserStore } from '../store/index.js';
import type { AuditDraft } from '../plan/audit-entry.js';
import type { Config, UsersStrategySetting } from '../config/index.js';
import type { PlannedAction } from '../plan/types.js';
import type { GroupAction } from '../plan/groups.js';
import type { SettingsFile } from '../config/file.js';
import type { ProgressTracker } from './progress.js';

export type ActionCounts = Record<
  'create' | 'link' | 'update' | 'disable' | 'enable' | 'delete' | 'skip' | 'error' | 'staged',
  number
>;

export const emptyCounts = (): ActionCounts => ({
  create: 0,
  link: 0,
  update: 0,
  disable: 0,
  enable: 0,
  delete: 0,
  skip: 0,
  error: 0,
  staged: 0,
});

/** What a cycle did to groups and their memberships. */
export type GroupCounts = Record<
  'create' | 'link' | 'update' | 'delete' | 'skip' | 'error' | 'addMember' | 'removeMember',
  number
>;

export const emptyGroupCounts = (): GroupCounts => ({
  create: 0,
  link: 0,
  update: 0,
  delete: 0,
  skip: 0,
  error: 0,
  addMember: 0,
  removeMember: 0,
});

/** The group counts as the cycle record keeps them (`groupCreate`, …): the non-zero ones. */
export function groupCountsRecord(counts: GroupCounts): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => [`group${k[0]!.toUpperCase()}${k.slice(1)}`, n]),
  );
}

/** What one cycle works with; built once per cycle by runCycle. */
export interface CycleContext {
  cycleId: string;
  store: UserStore;
  api: GraphApi;
  log: Logger;
  mappings: CompiledMappings;
  settings: SettingsFile;
  scope: 'assigned' | 'all';
  usersStrategy: UsersStrategySetting;
  dryRun: boolean;
  counts: ActionCounts;
  groupCounts: GroupCounts;
  /** Every planned group change (the dry-run listing). */
  onGroupAction?: (action: GroupAction) => void;
  /** Every planned change is reported here (the dry-run listing, provision-on-demand traces). */
  onAction?: (action: PlannedAction) => void;
  now: () => Date;
  defaultDomain?: string;
  /** How far the cycle is (phase, counters); absent outside a cycle (provision on demand). */
  progress?: ProgressTracker;
}

/** What a cycle is built from: one process's wired stages. */
export interface CycleDeps {
  config: Config;
  store: UserStore;
  api: GraphApi;
  log: Logger;
  mappings: CompiledMappings;
}

export function cycleContext(
  deps: CycleDeps,
  cycleId: string,
  options: {
    dryRun?: boolean;
    onAction?: (action: PlannedAction) => void;
    onGroupAction?: (action: GroupAction) => void;
    now?: () => Date;
  } = {},
): CycleContext {
  return {
    cycleId,
    store: deps.store,
    api: deps.api,
    log: deps.log,
    mappings: deps.mappings,
    settings: deps.config.settings,
    scope: deps.config.scope,
    usersStrategy: deps.config.usersStrategy,
    dryRun: !!options.dryRun,
    counts: emptyCounts(),
    groupCounts: emptyGroupCounts(),
    onAction: options.onAction,
    onGroupAction: options.onGroupAction,
    now: options.now ?? (() => new Date()),
  };
}

/**
 * Data from Graph that could not be used: counted and logged at warn; the audit row returned is
 * written with the batch it belongs to.
 */
export function sourceError(
  ctx: CycleContext,
  entraId: string | null,
  reason: string,
  logged: { problem: string; message: string },
): AuditDraft {
  ctx.counts.error++;
  ctx.log.warn({ cycleId: ctx.cycleId, entraId, problem: logged.problem }, logged.message);
  return {
    cycleId: ctx.cycleId,
    action: 'error',
    status: 'failure',
    entraId,
    userId: null,
    userName: null,
    modified: [],
    reasonCode: 'bad-data',
    reason,
  };
}

/** `owner`'s handle on the cross-process cycle lease, with the configured time to live. */
export function cycleLease(deps: Pick<CycleDeps, 'store' | 'config'>, owner: string): CycleLease {
  return deps.store.cycleLease(owner, deps.config.settings.sync.lockTtlSeconds * 1000);
}

/** The cross-process cycle lease; a second process waits for it and says so. */
export async function acquireCycleLease(deps: CycleDeps, owner: string): Promise<CycleLease> {
  const lease = cycleLease(deps, owner);
  await lease.acquire((holder) =>
    deps.log.info({ holder: holder.owner }, 'another cycle is running; waiting for it to finish'),
  );
  return lease;
}

export { leaseOwner };
