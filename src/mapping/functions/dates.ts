/**
 * Date and time (all UTC): CDate, Now, DateAdd, DateDiff, DateFromNum, NumFromDate, FormatDateTime.
 *
 * Decisions (see docs/expressions.md):
 * - Date parameters accept DateTime values and strings parsed like CDate (ISO 8601, `M/d/yyyy h:mm:ss tt`, LDAP
 *   generalized time); a string without an offset is UTC; an unparsable string is an evaluation error.
 * - Null date/source → null.
 * - DateAdd/DateDiff follow VB.NET DateAndTime: intervals yyyy, q, m, y, d, w, ww, h, n, s; DateAdd truncates a
 *   fractional count; DateDiff counts elapsed d/h/n/s truncated toward zero, ww counts Sunday boundaries,
 *   m and yyyy compare calendar fields.
 * - NumFromDate returns FILETIME ticks as an exact integer (rendered as a string, no 2^53 rounding).
 * - FormatDateTime: 3 arguments = (source, inputFormat, outputFormat), 4 = (source, dateTimeStyles, …); the
 *   dateTimeStyles argument is accepted and ignored (leading/trailing white is always allowed, results are UTC).
 *   A DateTime source (e.g. Now()) skips parsing.
 */
import type { Arg } from '../ast.js';
import { MappingEvaluationError } from '../errors.js';
import {
  FILETIME_EPOCH_OFFSET_MS,
  addMonths,
  formatDateTime,
  parseDateLoose,
  parseExact,
  tokenizeFormat,
} from '../datetime.js';
import { toNumber, toText, type Value } from '../values.js';
import { fn, type FunctionSpec } from './types.js';

const DAY_MS = 86_400_000;
const INTERVALS = new Set(['yyyy', 'q', 'm', 'y', 'd', 'w', 'ww', 'h', 'n', 's']);

export function toDate(v: Value, what: string): Date | null {
  if (v === null) return null;
  if (v instanceof Date) return v;
  const t = toText(v, what);
  if (t === null || t.trim() === '') return null;
  const d = parseDateLoose(t);
  if (!d) throw new MappingEvaluationError(`${what}: cannot parse "${t}" as a date`);
  return d;
}

function interval(v: Value, what: string): string {
  const t = (toText(v, what) ?? '').trim().toLowerCase();
  if (!INTERVALS.has(t)) {
    throw new MappingEvaluationError(
      `${what}: unknown interval "${t}" (expected yyyy, q, m, y, d, w, ww, h, n or s)`,
    );
  }
  return t;
}

export function dateAdd(iv: string, n: number, d: Date): Date {
  const k = Math.trunc(n);
  switch (iv) {
    case 'yyyy':
      return addMonths(d, 12 * k);
    case 'q':
      return addMonths(d, 3 * k);
    case 'm':
      return addMonths(d, k);
    case 'ww':
      return new Date(d.getTime() + 7 * k * DAY_MS);
    case 'h':
      return new Date(d.getTime() + k * 3_600_000);
    case 'n':
      return new Date(d.getTime() + k * 60_000);
    case 's':
      return new Date(d.getTime() + k * 1000);
    default: // y, d, w: days
      return new Date(d.getTime() + k * DAY_MS);
  }
}

export function dateDiff(iv: string, d1: Date, d2: Date): number {
  const ms = d2.getTime() - d1.getTime();
  const months = (d2.getUTCFullYear() - d1.getUTCFullYear()) * 12 + (d2.getUTCMonth() - d1.getUTCMonth());
  switch (iv) {
    case 'yyyy':
      return d2.getUTCFullYear() - d1.getUTCFullYear();
    case 'q':
      return (
        (d2.getUTCFullYear() - d1.getUTCFullYear()) * 4 +
        (Math.floor(d2.getUTCMonth() / 3) - Math.floor(d1.getUTCMonth() / 3))
      );
    case 'm':
      return months;
    case 'w':
      return Math.trunc(Math.trunc(ms / DAY_MS) / 7);
    case 'ww': {
      const s1 = d1.getTime() - d1.getUTCDay() * DAY_MS;
      const s2 = d2.getTime() - d2.getUTCDay() * DAY_MS;
      return Math.trunc(Math.trunc((s2 - s1) / DAY_MS) / 7);
    }
    case 'h':
      return Math.trunc(ms / 3_600_000);
    case 'n':
      return Math.trunc(ms / 60_000);
    case 's':
      return Math.trunc(ms / 1000);
    default: // d, y
      return Math.trunc(ms / DAY_MS);
  }
}

/** A literal interval argument is checked when the mapping is compiled. */
function checkInterval(name: string) {
  return (args: readonly Arg[]) => {
    const iv = args[0];
    return iv?.type === 'string' && !INTERVALS.has(iv.value.toLowerCase())
      ? {
          message: `unknown ${name} interval "${iv.value}" (expected yyyy, q, m, y, d, w, ww, h, n or s)`,
          arg: 0,
        }
      : undefined;
  };
}

export const dateFunctions: FunctionSpec[] = [
  fn({ name: 'CDate', minArgs: 1, maxArgs: 1, impl: (a) => toDate(a.value(0), 'CDate') }),
  fn({ name: 'Now', minArgs: 0, maxArgs: 0, impl: (_a, env) => env.ctx.now() }),
  fn({
    name: 'DateAdd',
    minArgs: 3,
    maxArgs: 3,
    check: checkInterval('DateAdd'),
    impl: (a) => {
      const d = toDate(a.value(2), 'DateAdd dateTime');
      const n = toNumber(a.value(1), 'DateAdd value');
      if (d === null || n === null) return null;
      return dateAdd(interval(a.value(0), 'DateAdd'), n, d);
    },
  }),
  fn({
    name: 'DateDiff',
    minArgs: 3,
    maxArgs: 3,
    check: checkInterval('DateDiff'),
    impl: (a) => {
      const d1 = toDate(a.value(1), 'DateDiff date1');
      const d2 = toDate(a.value(2), 'DateDiff date2');
      if (d1 === null || d2 === null) return null;
      return dateDiff(interval(a.value(0), 'DateDiff'), d1, d2);
    },
  }),
  fn({
    name: 'NumFromDate',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => {
      const d = toDate(a.value(0), 'NumFromDate');
      if (d === null) return null;
      return (BigInt(d.getTime()) + FILETIME_EPOCH_OFFSET_MS) * 10_000n;
    },
  }),
  fn({
    name: 'DateFromNum',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => {
      const t = toText(a.value(0), 'DateFromNum');
      if (t === null || t.trim() === '') return null;
      if (!/^\s*-?\d+\s*$/.test(t))
        throw new MappingEvaluationError(`DateFromNum expects an integer but got "${t}"`);
      const ms = BigInt(t.trim()) / 10_000n - FILETIME_EPOCH_OFFSET_MS;
      return new Date(Number(ms));
    },
  }),
  fn({
    name: 'FormatDateTime',
    minArgs: 3,
    maxArgs: 4,
    check: (args) => {
      const fmts = args.length === 4 ? [2, 3] : [1, 2];
      for (const i of fmts) {
        const node = args[i];
        if (node === null || node === undefined) {
          return {
            message: `FormatDateTime needs ${i === fmts[0] ? 'an inputFormat' : 'an outputFormat'}`,
            arg: i,
          };
        }
        if (node.type === 'string') {
          try {
            tokenizeFormat(node.value);
          } catch (e) {
            return { message: (e as Error).message, arg: i };
          }
        }
      }
      return undefined;
    },
    impl: (a) => {
      const four = a.count === 4;
      const src = a.value(0);
      const inFmt = toText(a.value(four ? 2 : 1), 'FormatDateTime inputFormat') ?? '';
      const outFmt = toText(a.value(four ? 3 : 2), 'FormatDateTime outputFormat') ?? '';
      if (src === null) return null;
      let d: Date | null;
      if (src instanceof Date) d = src;
      else {
        const t = toText(src, 'FormatDateTime source');
        if (t === null || t.trim() === '') return null;
        d = parseExact(t, inFmt);
        if (!d)
          throw new MappingEvaluationError(`FormatDateTime: "${t}" does not match the format "${inFmt}"`);
      }
      try {
        return formatDateTime(d, outFmt);
      } catch (e) {
        throw new MappingEvaluationError(`FormatDateTime: ${(e as Error).message}`);
      }
    },
  }),
];
