/**
 * NormalizeDiacritics(source). Decision: the documented table's special cases (æ→ae, ø→oe, ß→ss, ł→l, ı→i, …)
 * (also ǣ, ø̄, œ̄, …) are applied literally; every other character is decomposed (NFD), its combining diacritical marks
 * (U+0300–036F, U+1AB0–1AFF, U+1DC0–1DFF, U+20D0–20FF, U+FE20–FE2F) are dropped and the rest recomposed (NFC).
 * Characters without a decomposition and not in the table (œ, đ, þ, ð) pass through unchanged. Null → null.
 */
import { toText } from '../values.js';
import { fn, type FunctionSpec } from './types.js';

const TABLE: Record<string, string> = {
  æ: 'ae',
  Æ: 'AE',
  ø: 'oe',
  Ø: 'OE',
  ß: 'ss',
  ł: 'l',
  Ł: 'L',
  ı: 'i',
};

const COMBINING_RANGES: [number, number][] = [
  [0x0300, 0x036f],
  [0x1ab0, 0x1aff],
  [0x1dc0, 0x1dff],
  [0x20d0, 0x20ff],
  [0xfe20, 0xfe2f],
];

const isCombining = (c: string): boolean => {
  const cp = c.codePointAt(0) ?? 0;
  return COMBINING_RANGES.some(([lo, hi]) => cp >= lo && cp <= hi);
};

export function normalizeDiacritics(s: string): string {
  // œ̄ is in the table, plain œ is not.
  const decomposed = s.normalize('NFD').split('œ\u0304').join('oe').split('Œ\u0304').join('OE');
  let out = '';
  for (const c of decomposed) if (!isCombining(c)) out += TABLE[c] ?? c;
  return out.normalize('NFC');
}

export const diacriticsFunctions: FunctionSpec[] = [
  fn({
    name: 'NormalizeDiacritics',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => {
      const s = toText(a.value(0), 'NormalizeDiacritics');
      return s === null ? null : normalizeDiacritics(s);
    },
  }),
];
