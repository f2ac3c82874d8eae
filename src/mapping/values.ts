/**
 * Runtime value model (expressions.md §2) and conversions.
 *
 * A value is null (absent), a single value — string, number, bigint (AD FILETIME ticks exceed 2^53), boolean,
 * Date (always UTC) — or a multi-valued list of strings. Number literals stay strings, as in Graph's parsed
 * tree; numeric parameters accept numeric strings.
 */
import { formatDefaultDateTime } from './datetime.js';
import { MappingEvaluationError } from './errors.js';

export type Value = null | string | number | bigint | boolean | Date | string[];

/** IgnoreFlowIfNullOrEmpty / IgnoreAttributeFlow / IgnoreObjectFlow: thrown, caught at the top of a mapping. */
export class FlowSignal extends Error {
  constructor(readonly flow: 'attribute' | 'object') {
    super(flow === 'attribute' ? 'IgnoreAttributeFlow' : 'IgnoreObjectFlow');
  }
}

export function boolText(b: boolean): string {
  return b ? 'True' : 'False';
}

/** Invariant-culture text of a number (no exponent for ordinary magnitudes). */
export function numberText(n: number): string {
  if (!Number.isFinite(n)) throw new MappingEvaluationError(`cannot render the number ${n} as text`);
  return String(n);
}

/** Text of a single value; lists with one element are unwrapped, empty lists are null, longer ones fail. */
export function toText(v: Value, what: string): string | null {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return numberText(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return boolText(v);
  if (v instanceof Date) return formatDefaultDateTime(v);
  if (v.length === 0) return null;
  if (v.length === 1) return v[0] ?? null;
  throw new MappingEvaluationError(`${what} expects a single value but got a list of ${v.length} values`);
}

/** Like toText, but null becomes "". */
export function toTextOrEmpty(v: Value, what: string): string {
  return toText(v, what) ?? '';
}

const NUMERIC = /^[-+]?(\d+(\.\d*)?|\.\d+)$/;
const HEX = /^&[Hh]([0-9A-Fa-f]+)$/;

/** Number from a number, bigint or numeric string (also `&H…`); null for null/""; anything else fails. */
export function toNumber(v: Value, what: string): number | null {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  const t = toText(v, what);
  if (t === null || t.trim() === '') return null;
  const n = parseNumeric(t);
  if (n === null) throw new MappingEvaluationError(`${what} expects a number but got "${t}"`);
  return n;
}

/** Parses a numeric string, or null when it is not one. */
export function parseNumeric(text: string): number | null {
  const t = text.trim();
  if (NUMERIC.test(t)) return Number(t);
  const h = HEX.exec(t);
  if (h?.[1]) return parseInt(h[1], 16);
  return null;
}

/** Integer (truncated toward zero, VB `Fix`) or null. */
export function toInteger(v: Value, what: string): number | null {
  const n = toNumber(v, what);
  return n === null ? null : Math.trunc(n);
}

/** IIF/Not truthiness: boolean true or the string "True" (any case). */
export function isTrue(v: Value): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return v.trim().toLowerCase() === 'true';
  if (Array.isArray(v) && v.length === 1) return isTrue(v[0] ?? null);
  return false;
}

export function isNull(v: Value): boolean {
  return v === null || (Array.isArray(v) && v.length === 0);
}

export function isNullOrEmpty(v: Value): boolean {
  if (isNull(v)) return true;
  if (typeof v === 'string') return v === '';
  if (Array.isArray(v)) return v.every((x) => x === '');
  return false;
}

/** A list view: null → [], list → itself, single value → [text]. */
export function toList(v: Value, what: string): string[] {
  if (v === null) return [];
  if (Array.isArray(v)) return v;
  const t = toText(v, what);
  return t === null ? [] : [t];
}

/** Converts an attribute value as read from Graph into a Value. */
export function fromAttribute(raw: unknown, name: string): Value {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === 'string' || typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') return raw;
  if (Array.isArray(raw)) {
    const out: string[] = [];
    for (const x of raw) {
      if (x === null || x === undefined) continue;
      out.push(typeof x === 'string' ? x : typeof x === 'object' ? JSON.stringify(x) : String(x));
    }
    return out;
  }
  if (raw instanceof Date) return raw;
  if (typeof raw === 'object') return JSON.stringify(raw);
  throw new MappingEvaluationError(`attribute [${name}] has an unsupported value type (${typeof raw})`);
}

/** Text rendering for outputs: lists stay lists (of text), everything else becomes one string. */
export function toOutputText(v: Value): string | string[] | null {
  if (v === null) return null;
  if (Array.isArray(v)) return [...v];
  return toText(v, 'the expression');
}
