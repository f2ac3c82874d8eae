/**
 * Conditionals, tests and flow control: IIF, Switch, Coalesce, IsNull, IsNullOrEmpty, IsPresent, IsString, Not,
 * CBool, IgnoreFlowIfNullOrEmpty.
 *
 * Decisions (see docs/expressions.md):
 * - IIF, Switch and Coalesce evaluate their arguments lazily: only the chosen branch runs.
 * - IIF: the condition is true only for a boolean true or the string "True" (any case); null, a failed
 *   comparison with a null operand, or anything else takes the false branch. IsNullOrEmpty/IsPresent inside
 *   IIF are allowed (the Microsoft pages contradict each other; the HR guides recommend them).
 * - Switch: a null source matches the key "" (documented); with no match and an omitted default → null.
 * - Coalesce: "" counts as a value (only null is skipped), as the text says.
 */
import { MappingEvaluationError } from '../errors.js';
import { FlowSignal, isNull, isNullOrEmpty, isTrue, parseNumeric, toText, type Value } from '../values.js';
import { fn, type FunctionSpec } from './types.js';

export const conditionalFunctions: FunctionSpec[] = [
  fn({
    name: 'IIF',
    minArgs: 3,
    maxArgs: 3,
    lazy: true,
    impl: (a) => (isTrue(a.value(0)) ? a.value(1) : a.value(2)),
  }),
  fn({
    name: 'Switch',
    minArgs: 4,
    maxArgs: Infinity,
    lazy: true,
    check: (args) =>
      args.length % 2 === 0
        ? undefined
        : {
            message: `Switch expects source, defaultValue and key/value pairs (an even number of arguments) but got ${args.length}`,
            arg: args.length - 1,
          },
    impl: (a) => {
      const source = toText(a.value(0), 'Switch source') ?? '';
      for (let i = 2; i + 1 < a.count; i += 2) {
        const key = toText(a.value(i), 'Switch key') ?? '';
        if (key === source) return a.value(i + 1);
      }
      return a.omitted(1) ? null : a.value(1);
    },
  }),
  fn({
    name: 'Coalesce',
    minArgs: 1,
    maxArgs: Infinity,
    lazy: true,
    impl: (a) => {
      for (let i = 0; i < a.count; i++) {
        const v = a.value(i);
        if (!isNull(v)) return v;
      }
      return null;
    },
  }),
  fn({ name: 'IsNull', minArgs: 1, maxArgs: 1, impl: (a) => isNull(a.value(0)) }),
  fn({ name: 'IsNullOrEmpty', minArgs: 1, maxArgs: 1, impl: (a) => isNullOrEmpty(a.value(0)) }),
  fn({ name: 'IsPresent', minArgs: 1, maxArgs: 1, impl: (a) => !isNullOrEmpty(a.value(0)) }),
  fn({
    name: 'IsString',
    minArgs: 1,
    maxArgs: 1,
    // Decision: true for any single non-null value (it "can be evaluated to a string"); false for null and lists.
    impl: (a) => {
      const v = a.value(0);
      return v !== null && !Array.isArray(v);
    },
  }),
  fn({
    name: 'Not',
    minArgs: 1,
    maxArgs: 1,
    // Documented: "True" → False, anything else (null included) → True.
    impl: (a) => !isTrue(a.value(0)),
  }),
  fn({
    name: 'CBool',
    minArgs: 1,
    maxArgs: 1,
    // Decision: booleans as is; "True"/"False" (any case); numbers and numeric strings: non-zero → True;
    // null or "" → False; any other text is an evaluation error (VB CBool throws too).
    impl: (a): Value => {
      const v = a.value(0);
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      if (typeof v === 'bigint') return v !== 0n;
      const t = toText(v, 'CBool');
      if (t === null || t.trim() === '') return false;
      const lower = t.trim().toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      const n = parseNumeric(t);
      if (n !== null) return n !== 0;
      throw new MappingEvaluationError(`CBool cannot convert "${t}" to a boolean`);
    },
  }),
  fn({
    name: 'IgnoreFlowIfNullOrEmpty',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => {
      const v = a.value(0);
      if (isNullOrEmpty(v)) throw new FlowSignal('attribute');
      return v;
    },
  }),
];
