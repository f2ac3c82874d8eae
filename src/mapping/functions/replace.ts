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
 * null (mode 5); .NET patterns run as JavaScript regexes (named groups and `${name}` translated; a leading
 * `(?i)` becomes the `i` flag); a literal pattern that does not compile is a configuration error.
 */
import type { Arg } from '../ast.js';
import { MappingEvaluationError } from '../errors.js';
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

function modeOf(present: (i: number) => boolean): Mode | null {
  if (present(OLD) && present(TEMPLATE)) return 2;
  if (present(OLD) && present(REPLACEMENT)) return 1;
  if (present(PATTERN) && present(GROUP) && present(REPLACEMENT_ATTR)) return 5;
  if (present(PATTERN) && present(GROUP) && present(REPLACEMENT)) return 4;
  if (present(PATTERN) && present(REPLACEMENT)) return 3;
  return null;
}

/** Compiles a .NET pattern as a JavaScript RegExp. */
export function compileDotNetRegex(pattern: string, flags: string): RegExp {
  let p = pattern;
  let f = flags;
  if (p.startsWith('(?i)')) {
    p = p.slice(4);
    f += 'i';
  }
  return new RegExp(p, f);
}

/** .NET replacement syntax → JavaScript: `${name}` → `$<name>`, `${1}` → `$1`. */
function translateReplacement(r: string): string {
  return r.replace(/\$\{(\w+)\}/g, (_m, g: string) => (/^\d+$/.test(g) ? `$${g}` : `$<${g}>`));
}

function regex(pattern: string, flags: string): RegExp {
  try {
    return compileDotNetRegex(pattern, flags);
  } catch (e) {
    throw new MappingEvaluationError(
      `Replace: invalid regular expression "${pattern}": ${(e as Error).message}`,
    );
  }
}

function groupSpans(re: RegExp, s: string, group: string): [number, number][] {
  const spans: [number, number][] = [];
  for (const m of s.matchAll(re)) {
    const span = m.indices?.groups?.[group];
    if (span) spans.push(span);
  }
  return spans;
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
      compileDotNetRegex(p.value, 'g');
    } catch (e) {
      return { message: `invalid regular expression: ${(e as Error).message}`, arg: PATTERN };
    }
  }
  return undefined;
};

export const replaceFunctions: FunctionSpec[] = [
  fn({
    name: 'Replace',
    minArgs: 3,
    maxArgs: 7,
    check: checkReplace,
    impl: (a) => {
      const mode = modeOf((i) => !a.omitted(i));
      const source = toText(a.value(SOURCE), 'Replace source');
      switch (mode) {
        case 1: {
          if (source === null) return null;
          const old = toTextOrEmpty(a.value(OLD), 'Replace oldValue');
          if (old === '') return source;
          return source.split(old).join(toTextOrEmpty(a.value(REPLACEMENT), 'Replace replacementValue'));
        }
        case 2: {
          if (source === null) return null;
          const old = toTextOrEmpty(a.value(OLD), 'Replace oldValue');
          const template = toTextOrEmpty(a.value(TEMPLATE), 'Replace template');
          return old === '' ? template : template.split(old).join(source);
        }
        case 3: {
          if (source === null) return null;
          const re = regex(toTextOrEmpty(a.value(PATTERN), 'Replace regexPattern'), 'g');
          return source.replace(
            re,
            translateReplacement(toTextOrEmpty(a.value(REPLACEMENT), 'Replace replacementValue')),
          );
        }
        case 4: {
          if (source === null) return null;
          const re = regex(toTextOrEmpty(a.value(PATTERN), 'Replace regexPattern'), 'gd');
          const group = toTextOrEmpty(a.value(GROUP), 'Replace regexGroupName');
          const replacement = toTextOrEmpty(a.value(REPLACEMENT), 'Replace replacementValue');
          let out = '';
          let last = 0;
          for (const [s, e] of groupSpans(re, source, group)) {
            out += source.slice(last, s) + replacement;
            last = e;
          }
          return out + source.slice(last);
        }
        case 5: {
          if (source !== null && source !== '') return source;
          const other = toText(a.value(REPLACEMENT_ATTR), 'Replace replacementAttributeName');
          if (other === null) return null;
          const re = regex(toTextOrEmpty(a.value(PATTERN), 'Replace regexPattern'), '');
          const group = toTextOrEmpty(a.value(GROUP), 'Replace regexGroupName');
          return re.exec(other)?.groups?.[group] ?? null;
        }
        default:
          throw new MappingEvaluationError('Replace: the given arguments select no mode');
      }
    },
  }),
];
