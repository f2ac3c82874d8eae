import { badRequest, graphError } from './errors.js';
import type { DeltaTokens, TokenResource, TokenState } from './delta-tokens.js';

export interface DeltaSettings {
  origin: string;
  tokens: DeltaTokens;
  pageSize: number;
  memberPageSize: number;
  /** Fault switch: re-send and replay as Graph is allowed to (graph-semantics §1.6). */
  duplicates: boolean;
}

export interface DeltaResult {
  body: Record<string, unknown>;
  minimalApplied: boolean;
}

const PROPERTY = /^[A-Za-z][A-Za-z0-9_]*$/;
const ID_CLAUSE = /^\s*id\s+eq\s+'([^']+)'\s*$/i;
export const MAX_FILTER_IDS = 50;

export function parseSelect(q: URLSearchParams): string[] | undefined {
  const raw = q.get('$select');
  if (raw === null || raw.trim() === '') return undefined;
  const names = raw.split(',').map((s) => s.trim());
  for (const n of names)
    if (!PROPERTY.test(n))
      throw badRequest(
        `Parsing OData Select and Expand failed: Term '${n}' is not valid in a $select or $expand expression.`,
      );
  return [...new Set(names)];
}

/** Delta supports only `id eq '…'` clauses joined by `or`, at most 50 (graph-semantics §1.1). */
export function parseIdFilter(q: URLSearchParams): string[] | undefined {
  const raw = q.get('$filter');
  if (raw === null) return undefined;
  const ids: string[] = [];
  for (const clause of raw.split(/\s+or\s+/i)) {
    const m = ID_CLAUSE.exec(clause);
    if (!m)
      throw graphError(
        400,
        'Request_UnsupportedQuery',
        `Unsupported query: only 'id eq' filters joined by 'or' are supported in delta queries.`,
      );
    ids.push(m[1]!.toLowerCase());
  }
  if (ids.length > MAX_FILTER_IDS)
    throw graphError(
      400,
      'Request_UnsupportedQuery',
      `The number of ids in the filter clause exceeds the maximum of ${MAX_FILTER_IDS}.`,
    );
  return ids;
}

function rejectUnsupported(q: URLSearchParams): void {
  for (const p of ['$expand', '$orderby', '$search'])
    if (q.has(p))
      throw graphError(
        400,
        'Request_UnsupportedQuery',
        `The query parameter '${p}' is not supported with change tracking.`,
      );
}

/**
 * Where this request starts: a continued page, an incremental round from a deltaLink, a
 * "sync from now" (null: answer with a bare deltaLink), or a new initial round.
 */
export function startState(
  resource: TokenResource,
  q: URLSearchParams,
  s: DeltaSettings,
  currentSeq: number,
  firstAfter: (seq: number) => number,
): { state: TokenState; latest: boolean } {
  const skip = q.get('$skiptoken');
  const delta = q.get('$deltatoken');
  if (skip !== null) {
    const st = s.tokens.decode(skip, resource, s.origin);
    if (st.k === 'd') throw badRequest('A delta token was given as $skiptoken.', 'badRequest');
    return { state: st, latest: false };
  }
  if (delta !== null && delta !== '' && delta !== 'latest') {
    const d = s.tokens.decode(delta, resource, s.origin);
    if (d.k !== 'd') throw badRequest('A skip token was given as $deltatoken.', 'badRequest');
    return {
      state: { r: resource, k: 'n', s: d.s, e: currentSeq, c: firstAfter(d.s), o: 0, sel: d.sel, f: d.f },
      latest: false,
    };
  }
  rejectUnsupported(q);
  const state: TokenState = {
    r: resource,
    k: 'i',
    s: 0,
    e: currentSeq,
    c: 0,
    o: 0,
    sel: parseSelect(q),
    f: parseIdFilter(q),
  };
  return { state, latest: delta === 'latest' };
}

export function envelope(
  resource: TokenResource,
  s: DeltaSettings,
  sel: string[] | undefined,
  value: unknown[],
  next: TokenState | undefined,
  deltaSeq: number,
  base: TokenState,
): Record<string, unknown> {
  const context = `${s.origin}/v1.0/$metadata#${resource}${sel ? `(${sel.join(',')})` : ''}`;
  const link = next
    ? { '@odata.nextLink': `${s.origin}/v1.0/${resource}/delta?$skiptoken=${s.tokens.encode(next)}` }
    : {
        '@odata.deltaLink': `${s.origin}/v1.0/${resource}/delta?$deltatoken=${s.tokens.encode({
          r: resource,
          k: 'd',
          s: deltaSeq,
          e: 0,
          c: 0,
          o: 0,
          sel: base.sel,
          f: base.f,
        })}`,
      };
  return { '@odata.context': context, ...link, value };
}

/** Seq the round's deltaLink resumes from; with the duplicates fault the last changes replay. */
export function deltaSeqFor(st: TokenState, duplicates: boolean): number {
  return duplicates ? Math.max(st.s, st.e - 2) : st.e;
}
