/** Tokenizer for Entra's attribute-mapping expression language (expressions.md §1). */
import { ExpressionError } from './errors.js';

export type CompOp = '=' | '<>' | '>' | '>=' | '<' | '<=';

export type Token =
  | { kind: 'lparen'; pos: number }
  | { kind: 'rparen'; pos: number }
  | { kind: 'comma'; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; text: string; pos: number }
  | { kind: 'hex'; text: string; value: number; pos: number }
  | { kind: 'attribute'; name: string; pos: number }
  | { kind: 'identifier'; name: string; pos: number }
  | { kind: 'compop'; op: CompOp; pos: number }
  | { kind: 'eof'; pos: number };

/** Entra caps an expression at 10,000 characters. */
export const MAX_EXPRESSION_LENGTH = 10_000;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isHexDigit = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isIdentStart = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z_]$/.test(c);
const isIdentPart = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9_]$/.test(c);
const isSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\u00a0';
/** Attribute names: plain identifiers, plus `.` and `-` (e.g. passwordProfile.password, extension_…). */
const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Positions in tokens are 0-based offsets; errors report them 1-based. */
export function tokenize(src: string): Token[] {
  if (src.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(
      `expression is ${src.length} characters long, the limit is ${MAX_EXPRESSION_LENGTH}`,
      MAX_EXPRESSION_LENGTH + 1,
    );
  }
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const pos = i;
    if (isSpace(c)) {
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'lparen', pos });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'rparen', pos });
      i++;
    } else if (c === ',') {
      tokens.push({ kind: 'comma', pos });
      i++;
    } else if (c === '"') {
      const { value, end } = readString(src, i);
      tokens.push({ kind: 'string', value, pos });
      i = end;
    } else if (c === '[') {
      const close = src.indexOf(']', i + 1);
      if (close < 0)
        throw new ExpressionError('expected "]" to close the attribute reference', src.length + 1);
      const name = src.slice(i + 1, close).trim();
      if (!ATTRIBUTE_NAME.test(name)) {
        throw new ExpressionError(
          name === '' ? 'expected an attribute name inside "[]"' : `invalid attribute name "${name}"`,
          pos + 1,
        );
      }
      tokens.push({ kind: 'attribute', name, pos });
      i = close + 1;
    } else if (c === '&' && (src[i + 1] === 'H' || src[i + 1] === 'h')) {
      let j = i + 2;
      while (isHexDigit(src[j])) j++;
      if (j === i + 2) throw new ExpressionError('expected hex digits after "&H"', j + 1);
      const text = src.slice(i + 2, j);
      tokens.push({ kind: 'hex', text: src.slice(i, j), value: parseInt(text, 16), pos });
      i = j;
    } else if (isDigit(c) || (c === '-' && isDigit(src[i + 1]))) {
      let j = c === '-' ? i + 1 : i;
      while (isDigit(src[j])) j++;
      if (src[j] === '.' && isDigit(src[j + 1])) {
        j++;
        while (isDigit(src[j])) j++;
      }
      if (isIdentPart(src[j])) throw new ExpressionError(`unexpected character "${src[j]}" in number`, j + 1);
      tokens.push({ kind: 'number', text: src.slice(i, j), pos });
      i = j;
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (isIdentPart(src[j])) j++;
      tokens.push({ kind: 'identifier', name: src.slice(i, j), pos });
      i = j;
    } else if (c === '=' || c === '<' || c === '>') {
      const two = src.slice(i, i + 2);
      if (two === '<>' || two === '>=' || two === '<=') {
        tokens.push({ kind: 'compop', op: two, pos });
        i += 2;
      } else {
        tokens.push({ kind: 'compop', op: c, pos });
        i++;
      }
    } else {
      throw new ExpressionError(`unexpected character "${c}"`, pos + 1);
    }
  }
  tokens.push({ kind: 'eof', pos: src.length });
  return tokens;
}

/**
 * String literal: `\"` → `"`, `\\` → `\`; any other `\x` keeps its backslash (the Workday guide's `"\+…"`
 * regex depends on it — expressions.md §1).
 */
function readString(src: string, start: number): { value: string; end: number } {
  let out = '';
  let i = start + 1;
  while (i < src.length) {
    const c = src[i];
    if (c === '"') return { value: out, end: i + 1 };
    if (c === '\\') {
      const n = src[i + 1];
      if (n === '"' || n === '\\') {
        out += n;
        i += 2;
        continue;
      }
      out += '\\';
      i++;
      continue;
    }
    out += c;
    i++;
  }
  throw new ExpressionError('unterminated string literal (expected a closing ")', start + 1);
}
