import type { CompiledMappings } from '../mapping/index.js';
import type { GraphApi } from '../graph/api.js';
import type { Logger } from '../log.js';
import { leaseOwner, type CycleLease, type Store } from '../store/index.js';
import type { Config, UsersStrategySetting } from '../config/index.js';
import type { PlannedAction } from '../plan/types.js';
import type { SettingsFile } from '../config/file.js';

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

/** What one cycle works with; built once per cycle by runCycle. */
export interface CycleContext {
  cycleId: string;
  store: Store;
  api: GraphApi;
  log: Logger;
  mappings: CompiledMappings;
  settings: SettingsFile;
  scope: 'assigned' | 'all';
  usersStrategy: UsersStrategySetting;
  dryRun: boolean;
  counts: ActionCounts;
  /** Every planned change is reported here (the dry-run listing, provision-on-demand traces). */
  onAction?: (action: PlannedAction) => void;
  now: () => Date;
  defaultDomain?: string;
}

/** What a cycle is built from: one process's wired stages. */
export interface CycleDeps {
  config: Config;
  store: Store;
  api: GraphApi;
  log: Logger;
  mappings: CompiledMappings;
}

export function cycleContext(
  deps: CycleDeps,
  cycleId: string,
  options: { dryRun?: boolean; onAction?: (action: PlannedAction) => void; now?: () => Date } = {},
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
    onAction: options.onAction,
    now: options.now ?? (() => new Date()),
  };
}

/** Data from Graph that could not be used: counted, audited as an `error` and logged at warn. */
export function recordSourceError(
  ctx: CycleContext,
  entraId: string | null,
  reason: string,
  logged: { problem: string; message: string },
): void {
  ctx.counts.error++;
  ctx.store.audit.append({
    cycleId: ctx.cycleId,
    action: 'error',
    status: 'failure',
    entraId,
    userId: null,
    userName: null,
    modified: [],
    reason,
  });
  ctx.log.warn({ cycleId: ctx.cycleId, entraId, problem: logged.problem }, logged.message);
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
