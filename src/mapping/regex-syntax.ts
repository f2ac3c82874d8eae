/**
 * .NET regular-expression syntax (Entra's flavour) → RE2 syntax (re2js, linear time). One pass over the pattern:
 * - rewrites what RE2 spells differently: `\d \w \s` and their negations become .NET's Unicode classes, `\uXXXX`
 *   becomes `\x{XXXX}`, `(?'name'…)` becomes `(?P<name>…)`, `(?#…)` comments are dropped, `\Z` becomes `\z`;
 * - rejects, by name, the constructs that need backtracking (backreferences, lookaround, atomic and balancing
 *   groups, conditionals, `\G`) or that RE2 would silently read differently (class subtraction, inline x/n);
 * - notes nested unbounded quantifiers (`(a+)+`), which backtrack catastrophically in .NET (warning only).
 * Anything else is left to RE2's own parser, whose errors are reported as they are.
 */

export class RegexSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexSyntaxError';
  }
}

export interface TranslatedPattern {
  /** The pattern in RE2 syntax. */
  source: string;
  /** The first quantified group that itself contains an unbounded quantifier, as written; null when none. */
  nestedQuantifier: string | null;
}

// .NET's definitions (Regex "Character classes"): \w = [\p{L}\p{Mn}\p{Nd}\p{Pc}], \s = [\f\n\r\t\v\x85\p{Z}].
const WORD = '\\p{L}\\p{Mn}\\p{Nd}\\p{Pc}';
const SPACE = '\\f\\n\\r\\t\\v\\x{85}\\p{Z}';
const DIGIT = '\\p{Nd}';

/** Outside a class: a whole class. Inside one: its members (the negated ones keep RE2's ASCII meaning there). */
const SHORTHAND_OUTSIDE: Record<string, string> = {
  d: DIGIT,
  D: '\\P{Nd}',
  w: `[${WORD}]`,
  W: `[^${WORD}]`,
  s: `[${SPACE}]`,
  S: `[^${SPACE}]`,
};
const SHORTHAND_INSIDE: Record<string, string> = { d: DIGIT, D: '\\P{Nd}', w: WORD, s: SPACE };

const unsupported = (what: string): RegexSyntaxError =>
  new RegexSyntaxError(
    `${what} is not supported: entrasync runs patterns on a linear-time engine (RE2), see docs/expressions.md`,
  );

interface Frame {
  start: number;
  /** Some quantifier inside the group can repeat without bound. */
  unbounded: boolean;
}

/** Length of the quantifier at p[i] (0 when none) and whether it is unbounded (`*`, `+`, `{n,}`). */
function quantifierAt(p: string, i: number): { length: number; unbounded: boolean } {
  const c = p[i];
  if (c === '*' || c === '+') return { length: 1, unbounded: true };
  if (c === '?') return { length: 1, unbounded: false };
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
    if (m) return { length: m[0].length, unbounded: m[2] !== undefined && m[3] === '' };
  }
  return { length: 0, unbounded: false };
}

/** Translates one escape (p[i] === '\\'); returns the RE2 text and how many characters it consumed. */
function translateEscape(p: string, i: number, inClass: boolean): { text: string; length: number } {
  const c = p[i + 1];
  if (c === undefined) return { text: '\\', length: 1 }; // RE2 reports the trailing backslash
  if (/[1-9]/.test(c) && !inClass) throw unsupported(`backreference "\\${c}"`);
  if (c === 'k' && (p[i + 2] === '<' || p[i + 2] === "'")) throw unsupported('backreference "\\k<…>"');
  if (c === 'G') throw unsupported('"\\G" (contiguous match)');
  // .NET's \Z also matches before a final newline, which RE2 cannot say without lookahead.
  if (c === 'Z' && !inClass) throw unsupported('"\\Z" (end or before a final newline); use "\\z" or "$"');
  // Inside a class RE2 would read these as ASCII-only, silently unlike .NET.
  if (inClass && (c === 'W' || c === 'S')) throw unsupported(`"\\${c}" inside a character class`);
  // RE2 syntax that .NET rejects: accepting it would run a mapping Entra refuses.
  if (c === 'Q' || c === 'E' || c === 'C') throw unsupported(`"\\${c}"`);
  if ((c === 'p' || c === 'P') && p[i + 2] !== '{') throw unsupported(`"\\${c}" without braces`);
  const shorthand = (inClass ? SHORTHAND_INSIDE : SHORTHAND_OUTSIDE)[c];
  if (shorthand !== undefined) return { text: shorthand, length: 2 };
  const hex = /^u([0-9A-Fa-f]{4})/.exec(p.slice(i + 1));
  if (hex) return { text: `\\x{${hex[1]}}`, length: 6 };
  if ((c === 'p' || c === 'P') && p[i + 2] === '{') {
    const end = p.indexOf('}', i + 3);
    if (end > 0) return { text: p.slice(i, end + 1), length: end + 1 - i };
  }
  return { text: `\\${c}`, length: 2 };
}

/** Copies a character class starting at p[i] === '['; returns the RE2 text and the index after its `]`. */
function translateClass(p: string, i: number): { text: string; end: number } {
  let out = '[';
  let j = i + 1;
  if (p[j] === '^') out += p[j++];
  if (p[j] === ']') out += p[j++]; // a leading ] is a member, in .NET and RE2 alike
  while (j < p.length && p[j] !== ']') {
    if (p[j] === '\\') {
      const e = translateEscape(p, j, true);
      out += e.text;
      j += e.length;
    } else if (p[j] === '-' && p[j + 1] === '[') {
      throw unsupported('character class subtraction "-[…]"');
    } else if (p[j] === '[' && p[j + 1] === ':') {
      out += '\\['; // .NET has no POSIX classes: "[:" is two members
      j++;
    } else {
      out += p[j++];
    }
  }
  if (j >= p.length) throw new RegexSyntaxError('missing closing ] of a character class');
  return { text: `${out}]`, end: j + 1 };
}

/** Translates the `(?…` group opener at p[i]; returns the RE2 text and its length. */
function translateGroupOpen(p: string, i: number): { text: string; length: number } {
  const rest = p.slice(i);
  if (rest.startsWith('(?=') || rest.startsWith('(?!'))
    throw unsupported(`lookahead "${rest.slice(0, 3)}…)"`);
  if (rest.startsWith('(?<=') || rest.startsWith('(?<!'))
    throw unsupported(`lookbehind "${rest.slice(0, 4)}…)"`);
  if (rest.startsWith('(?>')) throw unsupported('atomic group "(?>…)"');
  if (rest.startsWith('(?(')) throw unsupported('conditional "(?(…)…)"');
  const named = /^\(\?(<|')([^>']*)(>|')/.exec(rest);
  if (named) {
    const name = named[2] ?? '';
    if (name.includes('-')) throw unsupported(`balancing group "${named[0]}"`);
    return { text: `(?P<${name}>`, length: named[0].length };
  }
  const options = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(rest);
  if (options) {
    for (const o of `${options[1] ?? ''}${options[2] ?? ''}`) {
      if (o === 'x' || o === 'n') throw unsupported(`inline option ${o}`);
      if (!'ims'.includes(o)) throw new RegexSyntaxError(`unknown inline option ${o}`);
    }
  }
  return { text: '(', length: 1 };
}

/** .NET pattern → RE2 pattern; throws RegexSyntaxError for constructs RE2 cannot run. */
export function translateDotNetPattern(p: string): TranslatedPattern {
  let out = '';
  const stack: Frame[] = [{ start: 0, unbounded: false }];
  let nestedQuantifier: string | null = null;
  // The atom a following quantifier applies to: a group (with what it contains) or anything else.
  let atom: { start: number; unbounded: boolean } | null = null;
  let i = 0;
  while (i < p.length) {
    const c = p[i] ?? '';
    const top = stack[stack.length - 1] as Frame;
    const q = atom ? quantifierAt(p, i) : { length: 0, unbounded: false };
    if (q.length > 0 && atom) {
      if (q.unbounded && atom.unbounded && nestedQuantifier === null) {
        nestedQuantifier = p.slice(atom.start, i + q.length);
      }
      if (q.unbounded || atom.unbounded) top.unbounded = true;
      out += p.slice(i, i + q.length);
      i += q.length;
      if (p[i] === '?') out += p[i++]; // lazy
      atom = null;
      continue;
    }
    if (c === '\\') {
      const e = translateEscape(p, i, false);
      atom = { start: i, unbounded: false };
      out += e.text;
      i += e.length;
    } else if (c === '[') {
      const k = translateClass(p, i);
      atom = { start: i, unbounded: false };
      out += k.text;
      i = k.end;
    } else if (c === '(') {
      if (p.startsWith('(?#', i)) {
        const end = p.indexOf(')', i);
        if (end < 0) throw new RegexSyntaxError('missing closing ) of a (?#…) comment');
        i = end + 1;
        continue;
      }
      const g = p[i + 1] === '?' ? translateGroupOpen(p, i) : { text: '(', length: 1 };
      stack.push({ start: i, unbounded: false });
      out += g.text;
      i += g.length;
      atom = null;
    } else if (c === ')') {
      const frame = stack.length > 1 ? (stack.pop() as Frame) : null;
      if (frame?.unbounded) (stack[stack.length - 1] as Frame).unbounded = true;
      atom = frame ? { start: frame.start, unbounded: frame.unbounded } : null;
      out += c;
      i++;
    } else {
      atom = c === '|' || c === '^' || c === '$' ? null : { start: i, unbounded: false };
      out += c;
      i++;
    }
  }
  return { source: out, nestedQuantifier };
}
