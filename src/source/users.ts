import type { GraphApi } from '../graph/api.js';
import type { DeltaPage, UserChange } from './types.js';
import { isObjectId, userAttributes } from './validate.js';

/** Attributes always selected besides the mapped ones: accountEnabled drives IsSoftDeleted. */
export function userSelect(mappedAttributes: readonly string[]): string[] {
  return [...new Set(['accountEnabled', ...mappedAttributes])].filter((a) => a !== 'id').sort();
}

export function initialUsersUrl(select: readonly string[], ids?: readonly string[]): string {
  let url = `/users/delta?$select=${select.join(',')}`;
  if (ids && ids.length > 0)
    url += `&$filter=${encodeURIComponent(ids.map((id) => `id eq '${id}'`).join(' or '))}`;
  return url;
}

/**
 * One users/delta round from `link` (a stored deltaLink) or from the start. Incremental rounds ask
 * for `return=minimal`, so an absent property means "unchanged"; the mirror merges accordingly.
 */
export async function* usersDeltaRound(
  api: GraphApi,
  start: { link: string } | { select: readonly string[]; ids?: readonly string[] },
): AsyncGenerator<DeltaPage<UserChange>> {
  const url = 'link' in start ? start.link : initialUsersUrl(start.select, start.ids);
  const headers: Record<string, string> = 'link' in start ? { Prefer: 'return=minimal' } : {};
  for await (const page of api.pages<Record<string, unknown>>(url, headers)) {
    yield { items: page.value.map(toUserChange), deltaLink: page.deltaLink };
  }
}

export function toUserChange(raw: unknown): UserChange {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { kind: 'invalid', id: null, problem: 'a delta item is not an object' };
  }
  const item = raw as Record<string, unknown>;
  if (!isObjectId(item.id)) return { kind: 'invalid', id: null, problem: 'a delta item has no valid id' };
  const removed = item['@removed'];
  if (removed !== undefined) {
    const reason = (removed as { reason?: unknown } | null)?.reason;
    if (reason === 'changed' || reason === 'deleted') return { kind: 'removed', id: item.id, reason };
    return { kind: 'invalid', id: item.id, problem: `unknown @removed reason ${JSON.stringify(reason)}` };
  }
  const result = userAttributes(item);
  if ('problem' in result) return { kind: 'invalid', id: item.id, problem: result.problem };
  return { kind: 'upsert', id: item.id, attributes: result.attributes };
}
