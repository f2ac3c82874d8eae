/**
 * Recursive-descent parser:
 *   expression := operand ( compop operand )?        ; comparisons do not chain, there is no AND/OR
 *   operand    := call | attribute | string | number | hex | identifier
 *   call       := Name "(" ( arg ( "," arg )* )? ")"  ; arg may be empty (omitted)
 */
import type { Arg, Node } from './ast.js';
import { ExpressionError } from './errors.js';
import { type Token, tokenize } from './lexer.js';

export function parseExpression(src: string): Node {
  const p = new Parser(tokenize(src));
  const node = p.expression();
  p.expectEof();
  return node;
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'lparen':
      return '"("';
    case 'rparen':
      return '")"';
    case 'comma':
      return '","';
    case 'string':
      return 'a string';
    case 'number':
    case 'hex':
      return `the number ${t.text}`;
    case 'attribute':
      return `[${t.name}]`;
    case 'identifier':
      return `"${t.name}"`;
    case 'compop':
      return `"${t.op}"`;
    case 'eof':
      return 'the end of the expression';
  }
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i] ?? { kind: 'eof', pos: 0 };
  }

  private next(): Token {
    const t = this.peek();
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }

  private fail(expected: string, t: Token): never {
    throw new ExpressionError(`expected ${expected} but found ${describe(t)}`, t.pos + 1);
  }

  expectEof(): void {
    const t = this.peek();
    if (t.kind !== 'eof') {
      this.fail(
        t.kind === 'rparen' ? 'the end of the expression (unbalanced ")")' : 'the end of the expression',
        t,
      );
    }
  }

  expression(): Node {
    const left = this.operand();
    const t = this.peek();
    if (t.kind !== 'compop') return left;
    this.next();
    const right = this.operand();
    const after = this.peek();
    if (after.kind === 'compop') {
      throw new ExpressionError(`comparisons cannot be chained (found "${after.op}")`, after.pos + 1);
    }
    return { type: 'compare', op: t.op, left, right, pos: left.pos };
  }

  private operand(): Node {
    const t = this.next();
    switch (t.kind) {
      case 'string':
        return { type: 'string', value: t.value, pos: t.pos };
      case 'number':
        return { type: 'number', text: t.text, pos: t.pos };
      case 'hex':
        return { type: 'hex', text: t.text, value: t.value, pos: t.pos };
      case 'attribute':
        return { type: 'attribute', name: t.name, pos: t.pos };
      case 'identifier':
        if (this.peek().kind === 'lparen') return this.call(t.name, t.pos);
        return { type: 'identifier', name: t.name, pos: t.pos };
      default:
        return this.fail('a function call, [attribute], string or number', t);
    }
  }

  private call(name: string, pos: number): Node {
    this.next(); // "("
    const args: Arg[] = [];
    if (this.peek().kind === 'rparen') {
      this.next();
      return { type: 'call', name, args, pos };
    }
    for (;;) {
      const t = this.peek();
      if (t.kind === 'comma' || t.kind === 'rparen') args.push(null);
      else args.push(this.expression());
      const sep = this.next();
      if (sep.kind === 'rparen') break;
      if (sep.kind !== 'comma') this.fail(`"," or ")" in the arguments of ${name}`, sep);
    }
    return { type: 'call', name, args, pos };
  }
}
