/**
 * Regular expressions of the expression language (Replace), on re2js: RE2's linear-time engine, so no pattern
 * and no attribute value can make a match backtrack for minutes (JavaScript's RegExp cannot be interrupted);
 * the matches of one Replace together run within a time budget (limits.ts).
 * Patterns are .NET syntax (regex-syntax.ts translates them); substitutions follow .NET's Regex.Replace; every
 * result is built against the value-length bound (limits.ts) so a replacement cannot blow up memory either.
 */
import { RE2JS } from 're2js';
import { MappingEvaluationError } from './errors.js';
import { checkedLength, REGEX_BUDGET_MS } from './limits.js';
import { RegexSyntaxError, translateDotNetPattern } from './regex-syntax.js';

export { RegexSyntaxError } from './regex-syntax.js';

export interface DotNetRegex {
  readonly re: RE2JS;
  /** RE2 group index of a .NET group name or number; undefined when the pattern has no such group. */
  groupIndex(nameOrNumber: string): number | undefined;
  /** See TranslatedPattern.nestedQuantifier. */
  readonly nestedQuantifier: string | null;
}

// Compiling with re2js costs far more than matching; a pattern read from an attribute may differ per user, so
// the cache is bounded (cleared when full: simple, and literal patterns are recompiled at most once per clear).
const CACHE_LIMIT = 256;
const cache = new Map<string, DotNetRegex>();

/** Compiles a .NET pattern; throws RegexSyntaxError naming what is wrong or unsupported. */
export function compileDotNetRegex(pattern: string): DotNetRegex {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const translated = translateDotNetPattern(pattern);
  let re: RE2JS;
  try {
    re = RE2JS.compile(translated.source);
  } catch (e) {
    throw new RegexSyntaxError((e as Error).message.replace(/^error parsing regexp: /, ''));
  }
  const compiled: DotNetRegex = {
    re,
    groupIndex: groupIndexer(re),
    nestedQuantifier: translated.nestedQuantifier,
  };
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

/** .NET numbers unnamed groups first, then named ones, each left to right; RE2 numbers all left to right. */
function groupIndexer(re: RE2JS): (nameOrNumber: string) => number | undefined {
  const named = re.namedGroups() as Record<string, number>;
  const namedIndexes = new Set(Object.values(named));
  const byDotNetNumber: number[] = [0];
  for (let g = 1; g <= re.groupCount(); g++) if (!namedIndexes.has(g)) byDotNetNumber.push(g);
  for (const g of [...namedIndexes].sort((a, b) => a - b)) byDotNetNumber.push(g);
  return (key) => {
    if (Object.prototype.hasOwnProperty.call(named, key)) return named[key];
    return /^\d+$/.test(key) ? byDotNetNumber[Number(key)] : undefined;
  };
}

/** A parsed substitution: literal text, a group's capture, or the input before/after the match or all of it. */
type Piece = string | { group: number } | { input: 'before' | 'after' | 'all' };

/**
 * Parses a .NET substitution once per call: `$1`, `${name}`, `$$`, `$&`, `` $` ``, `$'`, `$+`, `$_`; a reference
 * to a group the pattern does not have stays literal text, as in .NET.
 */
function parseSubstitution(rx: DotNetRegex, replacement: string): Piece[] {
  const pieces: Piece[] = [];
  const token = /\$(?:(\d+)|\{(\w+)\}|([$&`'+_]))/g;
  let last = 0;
  for (let t = token.exec(replacement); t !== null; t = token.exec(replacement)) {
    const [whole, num, name, sym] = t;
    pieces.push(replacement.slice(last, t.index));
    last = t.index + whole.length;
    if (sym === undefined) {
      const g = rx.groupIndex(num ?? name ?? '');
      pieces.push(g === undefined ? whole : { group: g });
    } else if (sym === '$') pieces.push('$');
    else if (sym === '&') pieces.push({ group: 0 });
    else if (sym === '`') pieces.push({ input: 'before' });
    else if (sym === "'") pieces.push({ input: 'after' });
    else if (sym === '_') pieces.push({ input: 'all' });
    else {
      const lastGroup = rx.re.groupCount(); // $+: the group .NET numbers last
      pieces.push(lastGroup === 0 ? '' : { group: rx.groupIndex(String(lastGroup)) ?? 0 });
    }
  }
  pieces.push(replacement.slice(last));
  return pieces.filter((p) => p !== '');
}

/**
 * Each match of `rx` in `source` (the matcher positioned on it), within REGEX_BUDGET_MS for all of
 * them together: past it the user being evaluated fails.
 */
function* matchesWithinBudget(rx: DotNetRegex, source: string, what: string) {
  const deadline = performance.now() + REGEX_BUDGET_MS;
  const m = rx.re.matcher(source);
  while (m.find()) {
    if (performance.now() > deadline) {
      throw new MappingEvaluationError(
        `${what}: the regular expression ran past its ${REGEX_BUDGET_MS} ms budget over this value`,
      );
    }
    yield m;
  }
}

/**
 * Regex.Replace(source, pattern, replacement): every match replaced. The length is checked after each piece
 * (one piece is at most one value long), so `$_` repeated in a long replacement cannot build gigabytes.
 */
export function replaceAll(rx: DotNetRegex, source: string, replacement: string, what: string): string {
  const pieces = parseSubstitution(rx, replacement);
  let out = '';
  let last = 0;
  for (const m of matchesWithinBudget(rx, source, what)) {
    const start = m.start();
    const end = m.end();
    out += source.slice(last, start);
    for (const p of pieces) {
      if (typeof p === 'string') out += p;
      else if ('group' in p) out += m.group(p.group) ?? '';
      else
        out +=
          p.input === 'before' ? source.slice(0, start) : p.input === 'after' ? source.slice(end) : source;
      // What is left of the source still has to fit after this replacement.
      checkedLength(out.length + (source.length - end), what);
    }
    last = end;
  }
  return out + source.slice(last);
}

/** Replaces only the text each match captured in `group`, within the value-length bound. */
export function replaceGroup(
  rx: DotNetRegex,
  source: string,
  group: string,
  replacement: string,
  what: string,
): string {
  const g = rx.groupIndex(group);
  if (g === undefined) return source;
  let out = '';
  let last = 0;
  for (const m of matchesWithinBudget(rx, source, what)) {
    const start = m.start(g);
    if (start < 0) continue;
    checkedLength(out.length + (start - last) + replacement.length + (source.length - m.end(g)), what);
    out += source.slice(last, start) + replacement;
    last = m.end(g);
  }
  return out + source.slice(last);
}

/** The text `group` captured in the first match, or null. */
export function firstGroup(rx: DotNetRegex, s: string, group: string): string | null {
  const g = rx.groupIndex(group);
  if (g === undefined) return null;
  const m = rx.re.matcher(s);
  return m.find() ? m.group(g) : null;
}

/** A RegexSyntaxError as the evaluation error of one user (a pattern read from an attribute). */
export function evaluationError(pattern: string, e: unknown): Error {
  if (e instanceof RegexSyntaxError) {
    return new MappingEvaluationError(`Replace: invalid regular expression "${pattern}": ${e.message}`);
  }
  return e as Error;
}
