/**
 * Replace(source, oldValue?, regexPattern?, regexGroupName?, replacementValue?, replacementAttributeName?,
 * template?) — the mode is chosen from which arguments are present (expressions.md §3), checked at compile time:
 *   1. oldValue + replacementValue           literal replace-all
 *   2. oldValue + template                   template with every oldValue replaced by source
 *   3. regexPattern + replacementValue       regex replace-all; `${name}` / `$1` in the replacement
 *   4. + regexGroupName                      replace only the text captured by that group
 *   5. regexPattern + regexGroupName + replacementAttributeName
 *                                            source if it has a value, else the group's match in the
 *                                            replacement attribute's value
 * Decisions (see docs/expressions.md): null source → null in modes 1–4; no match → source unchanged (modes 3–4) or
 * null (mode 5); .NET patterns run on RE2 in linear time (regex.ts), so a literal pattern that does not compile or
 * uses a construct RE2 cannot run (backreference, lookaround, …) is a configuration error; every result is built
 * within the value-length bound (limits.ts).
 */
import type { Arg } from '../ast.js';
import { MappingEvaluationError } from '../errors.js';
import { checkedLength } from '../limits.js';
import {
  compileDotNetRegex,
  evaluationError,
  firstGroup,
  RegexSyntaxError,
  replaceAll,
  replaceGroup,
  type DotNetRegex,
} from '../regex.js';
import { toText, toTextOrEmpty } from '../values.js';
import { fn, type FunctionSpec } from './types.js';

const SOURCE = 0;
const OLD = 1;
const PATTERN = 2;
const GROUP = 3;
const REPLACEMENT = 4;
const REPLACEMENT_ATTR = 5;
const TEMPLATE = 6;

type Mode = 1 | 2 | 3 | 4 | 5;
const WHAT = 'Replace';

function modeOf(present: (i: number) => boolean): Mode | null {
  if (present(OLD) && present(TEMPLATE)) return 2;
  if (present(OLD) && present(REPLACEMENT)) return 1;
  if (present(PATTERN) && present(GROUP) && present(REPLACEMENT_ATTR)) return 5;
  if (present(PATTERN) && present(GROUP) && present(REPLACEMENT)) return 4;
  if (present(PATTERN) && present(REPLACEMENT)) return 3;
  return null;
}

/** Literal replace-all (modes 1 and 2), its length checked before the text is built. */
function replaceLiteral(s: string, old: string, by: string): string {
  const parts = s.split(old);
  checkedLength(s.length + (parts.length - 1) * (by.length - old.length), WHAT);
  return parts.join(by);
}

function regex(pattern: string): DotNetRegex {
  try {
    return compileDotNetRegex(pattern);
  } catch (e) {
    throw evaluationError(pattern, e);
  }
}

const checkReplace = (args: readonly Arg[]): { message: string; arg?: number } | undefined => {
  const present = (i: number): boolean => args[i] !== undefined && args[i] !== null;
  if (modeOf(present) === null) {
    return {
      message:
        'Replace expects oldValue with replacementValue or template, or regexPattern with replacementValue, ' +
        'or regexPattern, regexGroupName and replacementAttributeName',
    };
  }
  const p = args[PATTERN];
  if (p?.type === 'string') {
    try {
      compileDotNetRegex(p.value);
    } catch (e) {
      if (!(e instanceof RegexSyntaxError)) throw e;
      return { message: `invalid regular expression: ${e.message}`, arg: PATTERN };
    }
  }
  return undefined;
};

/** A literal pattern with a nested quantifier: linear here, but catastrophic in Entra's backtracking engine. */
const warnReplace = (args: readonly Arg[]): string | undefined => {
  const p = args[PATTERN];
  if (p?.type !== 'string') return undefined;
  let nested: string | null;
  try {
    nested = compileDotNetRegex(p.value).nestedQuantifier;
  } catch {
    return undefined; // checkReplace reports it
  }
  if (nested === null) return undefined;
  return (
    `Replace regexPattern "${p.value}" repeats "${nested}", a group that itself repeats (nested quantifier). ` +
    `entrasync matches it in linear time, but Entra's backtracking .NET engine can take exponential time on ` +
    `a value that almost matches, run into its regex timeout and fail that user there; ` +
    `prefer a pattern where each character can be matched one way only (e.g. "[A-Za-z\\s]+")`
  );
};

export const replaceFunctions: FunctionSpec[] = [
  fn({
    name: 'Replace',
    minArgs: 3,
    maxArgs: 7,
    check: checkReplace,
    warn: warnReplace,
    impl: (a) => {
      const mode = modeOf((i) => !a.omitted(i));
      const source = toText(a.value(SOURCE), 'Replace source');
      switch (mode) {
        case 1: {
          if (source === null) return null;
          const old = toTextOrEmpty(a.value(OLD), 'Replace oldValue');
          if (old === '') return source;
          return replaceLiteral(source, old, toTextOrEmpty(a.value(REPLACEMENT), 'Replace replacementValue'));
        }
        case 2: {
          if (source === null) return null;
          const old = toTextOrEmpty(a.value(OLD), 'Replace oldValue');
          const template = toTextOrEmpty(a.value(TEMPLATE), 'Replace template');
          return old === '' ? template : replaceLiteral(template, old, source);
        }
        case 3: {
          if (source === null) return null;
          const re = regex(toTextOrEmpty(a.value(PATTERN), 'Replace regexPattern'));
          const replacement = toTextOrEmpty(a.value(REPLACEMENT), 'Replace replacementValue');
          return replaceAll(re, source, replacement, WHAT);
        }
        case 4: {
          if (source === null) return null;
          const re = regex(toTextOrEmpty(a.value(PATTERN), 'Replace regexPattern'));
          const group = toTextOrEmpty(a.value(GROUP), 'Replace regexGroupName');
          const replacement = toTextOrEmpty(a.value(REPLACEMENT), 'Replace replacementValue');
          return replaceGroup(re, source, group, replacement, WHAT);
        }
        case 5: {
          if (source !== null && source !== '') return source;
          const other = toText(a.value(REPLACEMENT_ATTR), 'Replace replacementAttributeName');
          if (other === null) return null;
          const re = regex(toTextOrEmpty(a.value(PATTERN), 'Replace regexPattern'));
          return firstGroup(re, other, toTextOrEmpty(a.value(GROUP), 'Replace regexGroupName'));
        }
        default:
          throw new MappingEvaluationError('Replace: the given arguments select no mode');
      }
    },
  }),
];
