import type { GraphApi } from '../graph/api.js';
import type { BadElement, DeltaPage, GroupChange, MemberChange } from './types.js';
import { isObjectId } from './validate.js';

export const INITIAL_GROUPS_URL = '/groups/delta?$select=displayName,members';

/**
 * One groups/delta round. Only memberships matter for scope; a large group repeats across pages
 * with a slice of its members each time, so every page is applied as it comes.
 */
export async function* groupsDeltaRound(
  api: GraphApi,
  link: string | null,
): AsyncGenerator<DeltaPage<GroupChange>> {
  const headers: Record<string, string> = link ? { Prefer: 'return=minimal' } : {};
  for await (const page of api.pages<unknown>(link ?? INITIAL_GROUPS_URL, headers)) {
    yield { items: page.value.map(toGroupChange), deltaLink: page.deltaLink };
  }
}

function memberType(odataType: unknown): MemberChange['type'] {
  if (odataType === '#microsoft.graph.user') return 'user';
  if (odataType === '#microsoft.graph.group') return 'group';
  return 'other';
}

export function toGroupChange(raw: unknown): GroupChange {
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
  return { kind: 'upsert', id: item.id, members, bad };
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
