/**
 * String building: Append, Join, Mid, Left, Len, Word, StripSpaces, PCase, ToLower, ToUpper, ConvertToBase64,
 * ConvertToUTF8Hex, CStr, Split.
 *
 * Decisions (see docs/expressions.md):
 * - A null source propagates null, except where the reference says otherwise (Left and Word → "", Len → 0),
 *   so IgnoreFlowIfNullOrEmpty and Switch's "" key keep working.
 * - Lengths and positions count Unicode code points (a surrogate pair is one character), not UTF-16 units.
 * - Case mapping is one-to-one per character, like .NET (ß stays ß in upper case).
 * - A list with more than one value where a single string is expected is an evaluation error.
 */
import { MappingEvaluationError } from '../errors.js';
import { checkedLength } from '../limits.js';
import { toInteger, toList, toText, toTextOrEmpty, type Value } from '../values.js';
import { fn, type FunctionSpec } from './types.js';

const chars = (s: string): string[] => Array.from(s);

/**
 * .NET-like simple (one-to-one) case mapping: ß stays ß in upper case, İ lower-cases to i. JavaScript's full
 * mapping would turn ß into SS and İ into i + U+0307.
 */
function mapCase(s: string, f: (c: string) => string, upper: boolean): string {
  let out = '';
  for (const c of s) {
    const m = Array.from(f(c));
    out += m.length === 1 ? (m[0] as string) : upper ? c : (m[0] ?? c);
  }
  return out;
}

export const upperChar = (s: string): string => mapCase(s, (c) => c.toUpperCase(), true);
export const lowerChar = (s: string): string => mapCase(s, (c) => c.toLowerCase(), false);

function caseWithCulture(s: string, culture: string | null, upper: boolean, name: string): string {
  if (culture === null || culture === '') return upper ? upperChar(s) : lowerChar(s);
  try {
    return mapCase(s, (c) => (upper ? c.toLocaleUpperCase(culture) : c.toLocaleLowerCase(culture)), upper);
  } catch {
    throw new MappingEvaluationError(`${name}: unknown culture "${culture}"`);
  }
}

/** .NET ToTitleCase-like: word characters are letters, marks and digits; an apostrophe inside a word keeps it. */
function titleCaseDefault(s: string): string {
  let out = '';
  let inWord = false;
  for (const c of chars(lowerChar(s))) {
    if (/[\p{L}\p{M}\p{N}]/u.test(c)) {
      out += inWord ? c : upperChar(c);
      inWord = true;
    } else if ((c === "'" || c === '\u2019') && inWord) {
      out += c;
    } else {
      out += c;
      inWord = false;
    }
  }
  return out;
}

function titleCaseWith(s: string, separators: string): string {
  const seps = new Set(chars(separators));
  let out = '';
  let atStart = true;
  for (const c of chars(s)) {
    if (seps.has(c)) {
      out += c;
      atStart = true;
    } else {
      out += atStart ? upperChar(c) : lowerChar(c);
      atStart = false;
    }
  }
  return out;
}

export const stringFunctions: FunctionSpec[] = [
  fn({
    name: 'Append',
    minArgs: 2,
    maxArgs: 2,
    // Decision: null source → null; null suffix → source unchanged.
    impl: (a) => {
      const s = toText(a.value(0), 'Append');
      if (s === null) return null;
      return s + toTextOrEmpty(a.value(1), 'Append');
    },
  }),
  fn({
    name: 'Join',
    minArgs: 2,
    maxArgs: Infinity,
    // Documented: empty values are skipped. Decision: nulls are skipped too, and nothing left → null.
    impl: (a) => {
      const sep = toTextOrEmpty(a.value(0), 'Join separator');
      const parts: string[] = [];
      for (let i = 1; i < a.count; i++) {
        for (const v of toList(a.value(i), 'Join')) if (v !== '') parts.push(v);
      }
      if (parts.length === 0) return null;
      let length = sep.length * (parts.length - 1);
      for (const part of parts) length += part.length;
      checkedLength(length, 'Join'); // before joining: many long arguments could not be allocated
      return parts.join(sep);
    },
  }),
  fn({
    name: 'Mid',
    minArgs: 3,
    maxArgs: 3,
    // 1-based start. Decision: start < 1 is treated as 1, start past the end or length ≤ 0 → "".
    impl: (a) => {
      const s = toText(a.value(0), 'Mid');
      if (s === null) return null;
      const start = Math.max(1, toInteger(a.value(1), 'Mid start') ?? 1);
      const length = toInteger(a.value(2), 'Mid length') ?? 0;
      if (length <= 0) return '';
      return chars(s)
        .slice(start - 1, start - 1 + length)
        .join('');
    },
  }),
  fn({
    name: 'Left',
    minArgs: 2,
    maxArgs: 2,
    // Documented: null → "", 0 → "", negative → input unchanged, short input → whole string.
    impl: (a) => {
      const s = toTextOrEmpty(a.value(0), 'Left');
      const n = toInteger(a.value(1), 'Left NumChars') ?? 0;
      if (n < 0) return s;
      return chars(s).slice(0, n).join('');
    },
  }),
  fn({
    name: 'Len',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => chars(toTextOrEmpty(a.value(0), 'Len')).length,
  }),
  fn({
    name: 'Word',
    minArgs: 3,
    maxArgs: 3,
    // Documented: null → "", WordNumber < 1 → "", too few words → "". Decision: consecutive delimiters do not
    // make empty words (VB semantics).
    impl: (a) => {
      const s = toTextOrEmpty(a.value(0), 'Word');
      const n = toInteger(a.value(1), 'Word WordNumber') ?? 0;
      const delims = new Set(chars(toTextOrEmpty(a.value(2), 'Word Delimiters')));
      if (n < 1) return '';
      const words: string[] = [];
      let cur = '';
      for (const c of chars(s)) {
        if (delims.has(c)) {
          if (cur !== '') words.push(cur);
          cur = '';
        } else cur += c;
      }
      if (cur !== '') words.push(cur);
      return words[n - 1] ?? '';
    },
  }),
  fn({
    name: 'StripSpaces',
    minArgs: 1,
    maxArgs: 1,
    // Decision: only U+0020 is removed (the reference mentions only spaces); tabs etc. are kept.
    impl: (a) => {
      const s = toText(a.value(0), 'StripSpaces');
      return s === null ? null : s.split(' ').join('');
    },
  }),
  fn({
    name: 'PCase',
    minArgs: 1,
    maxArgs: 2,
    // Without separators: lower-case, then .NET ToTitleCase-like word starts (the documented
    // "PABLO GONSALVES (SECOND)" → "Pablo Gonsalves (Second)" needs the lower-casing). With separators: only
    // those characters start a new word.
    impl: (a) => {
      const s = toText(a.value(0), 'PCase');
      if (s === null) return null;
      if (a.omitted(1)) return titleCaseDefault(s);
      return titleCaseWith(s, toTextOrEmpty(a.value(1), 'PCase wordSeparators'));
    },
  }),
  fn({
    name: 'ToLower',
    minArgs: 1,
    maxArgs: 2,
    impl: (a) => {
      const s = toText(a.value(0), 'ToLower');
      return s === null ? null : caseWithCulture(s, toText(a.value(1), 'ToLower culture'), false, 'ToLower');
    },
  }),
  fn({
    name: 'ToUpper',
    minArgs: 1,
    maxArgs: 2,
    impl: (a) => {
      const s = toText(a.value(0), 'ToUpper');
      return s === null ? null : caseWithCulture(s, toText(a.value(1), 'ToUpper culture'), true, 'ToUpper');
    },
  }),
  fn({
    name: 'ConvertToBase64',
    minArgs: 1,
    maxArgs: 1,
    // "Unicode base64": base64 of the UTF-16LE bytes.
    impl: (a) => {
      const s = toText(a.value(0), 'ConvertToBase64');
      return s === null ? null : Buffer.from(s, 'utf16le').toString('base64');
    },
  }),
  fn({
    name: 'ConvertToUTF8Hex',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => {
      const s = toText(a.value(0), 'ConvertToUTF8Hex');
      return s === null ? null : Buffer.from(s, 'utf8').toString('hex').toUpperCase();
    },
  }),
  fn({
    name: 'CStr',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => toText(a.value(0), 'CStr'),
  }),
  fn({
    name: 'Split',
    minArgs: 2,
    maxArgs: 2,
    // Decision: follow the documented example ("PermissionSetOne, PermissionSetTwo" split on "," gives
    // "PermissionSetTwo" without the space): parts are trimmed; empty parts are kept (.NET String.Split); an
    // empty delimiter returns the whole string as one value; null source → null.
    impl: (a): Value => {
      const s = toText(a.value(0), 'Split');
      if (s === null) return null;
      const d = toTextOrEmpty(a.value(1), 'Split delimiter');
      return d === '' ? [s] : s.split(d).map((p) => p.trim());
    },
  }),
];
