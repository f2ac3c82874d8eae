import type { TokenState } from './delta-tokens.js';
import { deltaSeqFor, envelope, startState, type DeltaResult, type DeltaSettings } from './delta-common.js';
import type { Directory } from './directory.js';
import type { GroupSlot, MemberType } from './groups.js';

const DEFAULT_GROUP_SELECT = [
  'description',
  'displayName',
  'groupTypes',
  'mail',
  'mailEnabled',
  'mailNickname',
  'securityEnabled',
];

type MemberRef = Record<string, unknown>;
const ref = (id: string, type: MemberType, removed = false): MemberRef => ({
  '@odata.type': type === 'user' ? '#microsoft.graph.user' : '#microsoft.graph.group',
  id,
  ...(removed ? { '@removed': { reason: 'deleted' } } : {}),
});

/** Membership changes since `since`: the latest state of each member that changed, oldest first. */
function memberChanges(dir: Directory, g: GroupSlot, since: number): MemberRef[] {
  const seen = new Map<string, MemberType>();
  for (let k = g.mlog.length - 1; k >= 0 && g.mlog[k]!.seq > since; k--) {
    const m = g.mlog[k]!;
    if (!seen.has(m.id)) seen.set(m.id, m.type);
  }
  return [...seen]
    .reverse()
    .map(([id, type]) => ref(id, type, !(g.members.get(id) === type && dir.isEffective(id, type))));
}

export function groupsDelta(
  dir: Directory,
  q: URLSearchParams,
  minimal: boolean,
  s: DeltaSettings,
): DeltaResult {
  const log = dir.groupLog;
  const { state: st, latest } = startState('groups', q, s, dir.seq, (seq) => log.firstAfter(seq));
  if (latest)
    return { body: envelope('groups', s, st.sel, [], undefined, dir.seq, st), minimalApplied: false };

  // Without $select, members@delta is included by default (graph-semantics §2).
  const trackMembers = !st.sel || st.sel.includes('members');
  const names = (st.sel ?? DEFAULT_GROUP_SELECT).filter((n) => n !== 'id' && n !== 'members');
  const tracked = dir.props.mask(names);
  const slots = dir.groups.slots;
  const filter = st.f?.map((id) => dir.groups.indexOf(id)).filter((i): i is number => i !== undefined);
  const incremental = st.k === 'n';
  const value: Record<string, unknown>[] = [];
  let linksUsed = 0;
  let c = st.c;
  let o = st.o;

  /** Pushes the group (or the next slice of its members); false when the page is full mid-group. */
  const emit = (g: GroupSlot): boolean => {
    if (g.deleted) {
      value.push({ id: g.id, '@removed': { reason: 'deleted' } });
      return true;
    }
    const ch = incremental ? log.changesSince(g.last, st.s) : undefined;
    const obj: Record<string, unknown> = {};
    for (const n of names) {
      const show = !ch || !minimal || ch.recreated ? n in g.props : (ch.mask & dir.props.bit(n)) !== 0;
      if (show) obj[n] = g.props[n] ?? null;
    }
    obj.id = g.id;
    if (!trackMembers) {
      value.push(obj);
      return true;
    }
    const refs =
      !ch || ch.recreated
        ? dir.effectiveMembers(g).map((m) => ref(m.id, m.type))
        : memberChanges(dir, g, st.s);
    const room = s.memberPageSize - linksUsed;
    if (refs.length > o && room <= 0) return false;
    const slice = refs.slice(o, o + room);
    if (slice.length) obj['members@delta'] = slice;
    linksUsed += slice.length;
    value.push(obj);
    if (o + slice.length < refs.length) {
      // A large group continues on the next page: the same object again with the next slice.
      o += slice.length;
      return false;
    }
    return true;
  };

  let done: boolean;
  if (!incremental) {
    const total = filter ? filter.length : slots.length;
    while (c < total && value.length < s.pageSize) {
      if (!emit(slots[filter ? filter[c]! : c]!)) break;
      c++;
      o = 0;
    }
    done = c >= total;
  } else {
    const only = filter ? new Set(filter) : undefined;
    const scanLimit = s.pageSize * 4;
    for (
      let scanned = 0;
      c < log.length && log.seq(c) <= st.e && value.length < s.pageSize && scanned < scanLimit;
      scanned++
    ) {
      const gi = log.obj(c);
      const g = slots[gi]!;
      const wanted =
        log.relevant(c, tracked, trackMembers) &&
        (!only || only.has(gi)) &&
        (s.duplicates || log.lastRelevant(g.last, st.e, tracked, trackMembers) === c);
      if (wanted && !emit(g)) break;
      c++;
      o = 0;
    }
    done = c >= log.length || log.seq(c) > st.e;
  }
  const next: TokenState | undefined = done ? undefined : { ...st, c, o };
  return {
    body: envelope('groups', s, st.sel, value, next, deltaSeqFor(st, s.duplicates), st),
    minimalApplied: minimal && incremental,
  };
}
