/**
 * Multi-valued attributes: Item, Count, RemoveDuplicates.
 *
 * Decisions (see docs/expressions.md): a single value counts as a list of one; null counts as an empty list.
 * Item is 1-based and an index out of range (0 included) → null. RemoveDuplicates keeps the first occurrence,
 * compares exactly (case-sensitive), and returns null for null.
 */
import { isNull, toInteger, toList } from '../values.js';
import { fn, type FunctionSpec } from './types.js';

export const multiValuedFunctions: FunctionSpec[] = [
  fn({
    name: 'Item',
    minArgs: 2,
    maxArgs: 2,
    impl: (a) => {
      const list = toList(a.value(0), 'Item');
      const i = toInteger(a.value(1), 'Item index');
      if (i === null || i < 1) return null;
      return list[i - 1] ?? null;
    },
  }),
  fn({
    name: 'Count',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => toList(a.value(0), 'Count').length,
  }),
  fn({
    name: 'RemoveDuplicates',
    minArgs: 1,
    maxArgs: 1,
    impl: (a) => {
      const v = a.value(0);
      if (isNull(v)) return null;
      return [...new Set(toList(v, 'RemoveDuplicates'))];
    },
  }),
];
