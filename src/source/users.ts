import type { GraphApi } from '../graph/api.js';
import { GraphNotFoundError, GraphShapeError } from '../graph/errors.js';
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

/** Graph's limit of `id eq` clauses in one users/delta `$filter` (graph-semantics §1.1). */
export const MAX_FILTER_IDS = 50;

/**
 * "Sync from now" (`$deltatoken=latest`): a deltaLink for the tenant's current state, with the same
 * `$select`, and no users (graph-semantics §1.1). Only safe when every user that matters is then
 * read by other means, after this call.
 */
export async function latestUsersDeltaLink(api: GraphApi, select: readonly string[]): Promise<string> {
  for await (const page of api.pages(`${initialUsersUrl(select)}&$deltatoken=latest`)) {
    if (page.deltaLink) return page.deltaLink;
  }
  throw new GraphShapeError('users/delta with $deltatoken=latest answered without a deltaLink');
}

/**
 * The current state of up to 50 users, by id: a users/delta round filtered to those ids (users
 * that no longer exist are not listed; soft-deleted ones come as `@removed`). Its deltaLink is not
 * needed: changes come from the tenant-wide round.
 */
export async function readUsersById(
  api: GraphApi,
  select: readonly string[],
  ids: readonly string[],
): Promise<UserChange[]> {
  if (ids.length === 0) return []; // no $filter at all would read the whole tenant
  if (ids.length > MAX_FILTER_IDS) throw new Error(`at most ${MAX_FILTER_IDS} ids per read`);
  const items: UserChange[] = [];
  for await (const page of usersDeltaRound(api, { select, ids }))
    for (const item of page.items) items.push(item);
  return items;
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
  const manager = managerOf(item);
  if (typeof manager === 'object' && manager !== null) {
    const disabled = item.accountEnabled === false ? { disabled: true as const } : {};
    return { kind: 'invalid', id: item.id, problem: manager.problem, ...disabled };
  }
  const result = userAttributes(withoutManagerAnnotation(item));
  if (!('problem' in result) && manager !== undefined) result.attributes.manager = manager;
  if ('problem' in result) {
    const disabled = item.accountEnabled === false ? { disabled: true as const } : {};
    return { kind: 'invalid', id: item.id, problem: result.problem, ...disabled };
  }
  return { kind: 'upsert', id: item.id, attributes: result.attributes };
}

/**
 * The manager's Entra id from users/delta's `manager@delta` (graph-semantics §1.1): the reference
 * without `@removed` is the current manager; only removed ones mean none (null). Absent: unchanged
 * (return=minimal) or none (a full round). A malformed annotation is a problem of that user.
 */
function managerOf(item: Record<string, unknown>): string | null | undefined | { problem: string } {
  if ('manager' in item) {
    // A user read by id (readUser) carries the manager's id as a plain attribute already.
    const id = item.manager;
    return id === null || isObjectId(id) ? id : { problem: 'manager is not an object id' };
  }
  const refs = item['manager@delta'];
  if (refs === undefined) return undefined;
  if (!Array.isArray(refs)) return { problem: 'manager@delta is not a list' };
  let current: string | null = null;
  for (const ref of refs as unknown[]) {
    const r = (typeof ref === 'object' && ref !== null ? ref : {}) as Record<string, unknown>;
    if (!isObjectId(r.id)) return { problem: 'manager@delta holds a reference without a valid id' };
    if (r['@removed'] === undefined) current = r.id;
  }
  return current;
}

function withoutManagerAnnotation(item: Record<string, unknown>): Record<string, unknown> {
  if (!('manager@delta' in item)) return item;
  const { 'manager@delta': _annotation, ...rest } = item;
  return rest;
}

/**
 * One user by object id or UPN, with `select`; null when Graph has no such user (404). Graph answers
 * with a few attributes besides the selected ones. `manager` is a relationship, not a property that
 * GET /users/{id} selects: it is read from /users/{id}/manager and given as the manager's id (null: none).
 */
export async function readUser(
  api: GraphApi,
  idOrUpn: string,
  select: readonly string[],
): Promise<Record<string, unknown> | null> {
  const properties = select.filter((a) => a !== 'manager');
  const user = await nullWhenNotFound(
    api.get(`/users/${encodeURIComponent(idOrUpn)}?$select=${properties.join(',')}`),
  );
  if (!user || properties.length === select.length) return user;
  const manager = await nullWhenNotFound(api.get(`/users/${encodeURIComponent(idOrUpn)}/manager?$select=id`));
  return { ...user, manager: manager?.id ?? null };
}

/** One user by object id or UPN as an operator names it (provision, mappings preview), with its id. */
export async function findUser(
  api: GraphApi,
  idOrUpn: string,
  mappedAttributes: readonly string[],
): Promise<Record<string, unknown> | null> {
  return readUser(api, idOrUpn, ['id', ...userSelect(mappedAttributes)]);
}

/** A soft-deleted user from the recycle bin, by object id; null when it is not there (404). */
export async function readDeletedUser(api: GraphApi, id: string): Promise<Record<string, unknown> | null> {
  return nullWhenNotFound(api.get(`/directory/deletedItems/${encodeURIComponent(id)}`));
}

async function nullWhenNotFound(read: Promise<unknown>): Promise<Record<string, unknown> | null> {
  try {
    return (await read) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof GraphNotFoundError) return null;
    throw error;
  }
}
