import { compileGroupFilter, compileGroupMappings, groupFilterAttributes } from '../mapping/index.js';
import type { GroupPlanSettings } from '../plan/groups.js';
import type { SettingsFile } from '../config/file.js';
import type { CycleContext } from './context.js';

/** Group provisioning as configured: compiled once per settings object (validated at start-up). */
export interface GroupProvisioning {
  plan: Omit<GroupPlanSettings, 'now' | 'scope'>;
  /** Graph group properties kept in the mirror (mapped ones and those the filter reads). */
  properties: string[];
  /** Changes when anything that decides a group's row changes (joins the sync fingerprint). */
  fingerprint: string;
}

const compiled = new WeakMap<SettingsFile['groups'], GroupProvisioning>();

/** Null when group provisioning is off (groups.enabled: false). */
export function groupProvisioning(ctx: Pick<CycleContext, 'settings'>): GroupProvisioning | null {
  return groupProvisioningOf(ctx.settings);
}

export function groupProvisioningOf(settings: SettingsFile): GroupProvisioning | null {
  const groups = settings.groups;
  if (!groups.enabled) return null;
  let found = compiled.get(groups);
  if (!found) {
    const mappings = compileGroupMappings(groups.mappings);
    const filter = groups.filter === null ? null : compileGroupFilter(groups.filter);
    const properties = [
      ...new Set([
        ...mappings.sourceAttributes,
        ...(groups.filter ? groupFilterAttributes(groups.filter) : []),
      ]),
    ]
      .filter((p) => p !== 'displayName')
      .sort();
    found = {
      plan: { mappings, actions: groups.targetActions, filter },
      properties,
      fingerprint: JSON.stringify({
        mappings: mappings.fingerprint,
        filter: groups.filter,
        actions: groups.targetActions,
        properties,
      }),
    };
    compiled.set(groups, found);
  }
  return found;
}
