/**
 * Positions and numbers: InStr, BitAnd.
 *
 * Decisions (see docs/expressions.md):
 * - InStr: VB semantics. Null value1 → 0; empty value2 → start; start < 1 is treated as 1; positions count
 *   code points. compareType is the bare identifier vbBinaryCompare (default, case-sensitive) or vbTextCompare
 *   (case-insensitive); the strings "vbTextCompare"/"vbBinaryCompare" and 0/1 are accepted too.
 * - BitAnd: null operand → null; operands are truncated to integers.
 */
import { MappingEvaluationError } from '../errors.js';
import { toInteger, toText, toTextOrEmpty } from '../values.js';
import { fn, type FunctionSpec } from './types.js';

const COMPARE_TYPES: Record<string, boolean> = {
  vbbinarycompare: false,
  vbtextcompare: true,
  '0': false,
  '1': true,
};

export const numericFunctions: FunctionSpec[] = [
  fn({
    name: 'InStr',
    minArgs: 2,
    maxArgs: 4,
    check: (args) => {
      const c = args[3];
      if (c && c.type === 'identifier' && !(c.name.toLowerCase() in COMPARE_TYPES)) {
        return { message: 'InStr compareType must be vbBinaryCompare or vbTextCompare', arg: 3 };
      }
      return undefined;
    },
    impl: (a) => {
      const hay = toText(a.value(0), 'InStr value1');
      const needle = toTextOrEmpty(a.value(1), 'InStr value2');
      const start = Math.max(1, toInteger(a.value(2), 'InStr start') ?? 1);
      const ct = toText(a.value(3), 'InStr compareType');
      let ignoreCase = false;
      if (ct !== null && ct !== '') {
        const k = ct.trim().toLowerCase();
        if (!(k in COMPARE_TYPES)) throw new MappingEvaluationError(`InStr: unknown compareType "${ct}"`);
        ignoreCase = COMPARE_TYPES[k] === true;
      }
      if (hay === null) return 0;
      const h = Array.from(ignoreCase ? hay.toLowerCase() : hay);
      const n = Array.from(ignoreCase ? needle.toLowerCase() : needle);
      if (start > h.length + 1) return 0;
      if (n.length === 0) return start;
      for (let i = start - 1; i + n.length <= h.length; i++) {
        let ok = true;
        for (let j = 0; j < n.length && ok; j++) ok = h[i + j] === n[j];
        if (ok) return i + 1;
      }
      return 0;
    },
  }),
  fn({
    name: 'BitAnd',
    minArgs: 2,
    maxArgs: 2,
    impl: (a) => {
      const x = toInteger(a.value(0), 'BitAnd value1');
      const y = toInteger(a.value(1), 'BitAnd value2');
      if (x === null || y === null) return null;
      return Number(BigInt(x) & BigInt(y));
    },
  }),
];
