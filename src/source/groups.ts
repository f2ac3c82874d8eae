import type { GraphApi } from '../graph/api.js';
import type { AttributeValue, BadElement, DeltaPage, GroupChange, MemberChange } from './types.js';
import { attributeProblem, isObjectId } from './validate.js';

export const INITIAL_GROUPS_URL = '/groups/delta?$select=displayName,members';

/** The groups/delta `$select`: displayName and members, plus the group properties mappings read. */
export function groupsSelect(properties: readonly string[] = []): string[] {
  const names = new Set(['displayName', 'members']);
  for (const p of properties) if (p !== 'id') names.add(p);
  return [...names];
}

export interface GroupsRoundOptions {
  /** The group properties to keep (beyond displayName); empty when groups are not provisioned. */
  properties?: readonly string[];
}

/**
 * One groups/delta round. A large group repeats across pages with a slice of its members each time,
 * so every page is applied as it comes. When group properties are kept, incremental rounds ask
 * without `Prefer: return=minimal`, so that every changed group carries all its selected properties
 * (absent then means never set, i.e. null: graph-semantics §1.3) and is mirrored whole.
 */
export async function* groupsDeltaRound(
  api: GraphApi,
  link: string | null,
  options: GroupsRoundOptions = {},
): AsyncGenerator<DeltaPage<GroupChange>> {
  const properties = options.properties ?? null;
  const headers: Record<string, string> = link && !properties ? { Prefer: 'return=minimal' } : {};
  const url = properties ? `/groups/delta?$select=${groupsSelect(properties).join(',')}` : INITIAL_GROUPS_URL;
  for await (const page of api.pages<unknown>(link ?? url, headers)) {
    yield { items: page.value.map((raw) => toGroupChange(raw, properties)), deltaLink: page.deltaLink };
  }
}

function memberType(odataType: unknown): MemberChange['type'] {
  if (odataType === '#microsoft.graph.user') return 'user';
  if (odataType === '#microsoft.graph.group') return 'group';
  return 'other';
}

export function toGroupChange(raw: unknown, properties: readonly string[] | null = null): GroupChange {
  if (typeof raw !== 'object' || raw === null)
    return { kind: 'invalid', id: null, problem: 'a group item is not an object' };
  const item = raw as Record<string, unknown>;
  if (!isObjectId(item.id)) return { kind: 'invalid', id: null, problem: 'a group item has no valid id' };
  if (item['@removed'] !== undefined) return { kind: 'removed', id: item.id };
  const rawMembers = item['members@delta'] ?? [];
  if (!Array.isArray(rawMembers))
    return { kind: 'invalid', id: item.id, problem: 'members@delta is not an array' };
  // Per member: a malformed one is reported and skipped; the others, removals included, are facts.
  const members: MemberChange[] = [];
  const bad: BadElement[] = [];
  for (const m of rawMembers) {
    const member = typeof m === 'object' && m !== null ? (m as Record<string, unknown>) : null;
    if (!member || !isObjectId(member.id)) {
      const shown = JSON.stringify(member ? (member.id ?? null) : m)?.slice(0, 100) ?? 'undefined';
      bad.push({
        key: `group ${item.id} member ${shown}`,
        entraId: item.id,
        problem: `group ${item.id}: a member of members@delta has no valid id (${shown}); the member is skipped`,
      });
      continue;
    }
    members.push({
      id: member.id,
      type: memberType(member['@odata.type']),
      removed: member['@removed'] !== undefined,
    });
  }
  if (!properties) return { kind: 'upsert', id: item.id, members, bad };
  const own = groupProperties(item, properties);
  if ('problem' in own) {
    bad.push({
      key: `group ${item.id} properties`,
      entraId: item.id,
      problem: `group ${item.id}: ${own.problem}; its properties are not updated`,
    });
    return { kind: 'upsert', id: item.id, members, bad };
  }
  return { kind: 'upsert', id: item.id, members, bad, ...own };
}

/** The group's selected properties (a property not listed is null: never set), `id` included. */
function groupProperties(
  item: Record<string, unknown>,
  properties: readonly string[],
): { displayName: string | null; attributes: Record<string, AttributeValue> } | { problem: string } {
  const attributes: Record<string, AttributeValue> = { id: item.id as string };
  for (const name of ['displayName', ...properties]) {
    const value = item[name] ?? null;
    const problem = attributeProblem(name, value);
    if (problem) return { problem };
    attributes[name] = value as AttributeValue;
  }
  const displayName = attributes.displayName;
  if (displayName !== null && typeof displayName !== 'string')
    return { problem: 'displayName is not a string' };
  return { displayName, attributes };
}

export interface GroupRef {
  id: string;
  displayName: string | null;
}

/**
 * The groups a user belongs to now: direct memberships (Entra's scope), or every group reached
 * through nested groups too. For provisioning on demand, which evaluates scope at request time.
 */
export async function readUserGroups(
  api: GraphApi,
  userId: string,
  transitive: boolean,
): Promise<GroupRef[]> {
  const relation = transitive ? 'transitiveMemberOf' : 'memberOf';
  const url = `/users/${encodeURIComponent(userId)}/${relation}/microsoft.graph.group?$select=id,displayName`;
  const groups: GroupRef[] = [];
  for await (const page of api.pages<Record<string, unknown>>(url)) {
    for (const g of page.value) {
      // Anything that is not a group with a valid id cannot put the user in scope.
      if (!isObjectId(g?.id)) continue;
      if (g['@odata.type'] !== undefined && g['@odata.type'] !== '#microsoft.graph.group') continue;
      groups.push({ id: g.id, displayName: typeof g.displayName === 'string' ? g.displayName : null });
    }
  }
  return groups;
}
