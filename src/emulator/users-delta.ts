import type { TokenState } from './delta-tokens.js';
import { deltaSeqFor, envelope, startState, type DeltaResult, type DeltaSettings } from './delta-common.js';
import type { Directory } from './directory.js';
import { hash32 } from './ids.js';
import { UserState } from './users.js';

const MANAGER = 'manager';
const userRef = (id: string) => ({ '@odata.type': '#microsoft.graph.user', id });

/**
 * manager@delta, shaped like groups' members@delta (README, "Managers"): the current manager in an
 * initial round; in an incremental round, a manager who went away since the token carries
 * `@removed: deleted` and a new one is listed plainly. An unchanged manager is repeated by default
 * and left out under return=minimal; no manager, nothing to report: no annotation.
 */
function managerDelta(
  dir: Directory,
  i: number,
  since: number | undefined,
  minimal: boolean,
): Record<string, unknown>[] | undefined {
  const now = dir.managerOf(i);
  const out: Record<string, unknown>[] = [];
  if (since === undefined || !dir.managers.changedSince(i, since)) {
    if (now !== null && !(minimal && since !== undefined)) out.push(userRef(now));
  } else {
    const before = dir.managers.effectiveAt(i, since);
    if (before !== null && before !== now)
      out.push({ ...userRef(before), '@removed': { reason: 'deleted' } });
    if (now !== null && (before !== now || !minimal)) out.push(userRef(now));
  }
  return out.length ? out : undefined;
}

/** The documented default property set of users/delta: note that accountEnabled is not in it. */
export const DEFAULT_USER_SELECT = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
];

export function usersDelta(
  dir: Directory,
  q: URLSearchParams,
  minimal: boolean,
  s: DeltaSettings,
): DeltaResult {
  const log = dir.userLog;
  const { state: st, latest } = startState('users', q, s, dir.seq, (seq) => log.firstAfter(seq));
  if (latest)
    return { body: envelope('users', s, st.sel, [], undefined, dir.seq, st), minimalApplied: false };

  const selected = (st.sel ?? DEFAULT_USER_SELECT).filter((n) => n !== 'id');
  const tracked = dir.props.mask(selected);
  // `manager` is a relationship, reported as the manager@delta annotation, never as a property.
  const names = selected.filter((n) => n !== MANAGER);
  const managerSelected = names.length !== selected.length;
  const users = dir.users;
  const filter = st.f?.map((id) => users.indexOf(id)).filter((i): i is number => i !== undefined);
  const value: Record<string, unknown>[] = [];

  /** `since`: the token's seq in an incremental round; `minimal`: only what changed since it. */
  const render = (i: number, since: number | undefined, minimal = false): Record<string, unknown> => {
    const state = users.state(i);
    if (state !== UserState.Active)
      return {
        id: users.idAt(i),
        '@removed': { reason: state === UserState.SoftDeleted ? 'changed' : 'deleted' },
      };
    const props = users.props(i);
    const o: Record<string, unknown> = {};
    const ch = since === undefined ? undefined : log.changesSince(users.last(i), since);
    if (!minimal || !ch) {
      for (const n of names) if (n in props) o[n] = props[n];
    } else {
      // return=minimal: only what changed since the token (a property cleared to null included).
      for (const n of names)
        if (ch.recreated ? n in props : (ch.mask & dir.props.bit(n)) !== 0) o[n] = props[n] ?? null;
    }
    o.id = props.id;
    if (managerSelected) {
      const refs = managerDelta(dir, i, ch?.recreated ? undefined : since, minimal);
      if (refs) o['manager@delta'] = refs;
    }
    return o;
  };

  let c = st.c;
  let done: boolean;
  if (st.k === 'i') {
    const total = filter ? filter.length : users.count;
    if (s.duplicates && c > 0 && !filter)
      value.push(render(c - 1 - (hash32(c, st.e) % Math.min(c, s.pageSize)), undefined));
    for (; c < total && value.length < s.pageSize; c++)
      value.push(render(filter ? filter[c]! : c, undefined));
    done = c >= total;
  } else {
    const only = filter ? new Set(filter) : undefined;
    const minimalApplied = minimal;
    // Bounded scan: a stretch of untracked changes yields an empty page with a nextLink, as Graph's can.
    const scanLimit = s.pageSize * 4;
    for (
      let scanned = 0;
      c < log.length && log.seq(c) <= st.e && value.length < s.pageSize && scanned < scanLimit;
      c++, scanned++
    ) {
      if (!log.relevant(c, tracked)) continue;
      const i = log.obj(c);
      if (only && !only.has(i)) continue;
      // Deduplicate: emit an object only at its newest relevant change inside the round.
      if (!s.duplicates && log.lastRelevant(users.last(i), st.e, tracked) !== c) continue;
      value.push(render(i, st.s, minimalApplied));
    }
    done = c >= log.length || log.seq(c) > st.e;
  }
  const next: TokenState | undefined = done ? undefined : { ...st, c };
  return {
    body: envelope('users', s, st.sel, value, next, deltaSeqFor(st, s.duplicates), st),
    minimalApplied: minimal && st.k === 'n',
  };
}
