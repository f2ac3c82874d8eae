import type { CompiledMappings } from '../mapping/index.js';
import type { GraphApi } from '../graph/api.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
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
  dryRun: boolean;
  counts: ActionCounts;
  /** Every planned change is reported here (the dry-run listing, provision-on-demand traces). */
  onAction?: (action: PlannedAction) => void;
  now: () => Date;
  defaultDomain?: string;
}
