import { describe, expect, it } from 'vitest';
import { printNode } from '../../src/mapping/ast.js';
import { ExpressionError } from '../../src/mapping/errors.js';
import { tokenize } from '../../src/mapping/lexer.js';
import { parseExpression } from '../../src/mapping/parser.js';
import { checkExpression, MappingConfigError } from '../../src/mapping/index.js';

function syntaxError(expr: string): MappingConfigError {
  try {
    checkExpression(expr);
  } catch (e) {
    expect(e).toBeInstanceOf(MappingConfigError);
    return e as MappingConfigError;
  }
  throw new Error(`expected ${expr} to fail`);
}

describe('lexer', () => {
  it('tokenizes every token kind with positions', () => {
    const toks = tokenize('F([a.b], "x\\"y", -10, 4.5, &HF7, vbTextCompare) <> 1');
    expect(toks.map((t) => t.kind)).toEqual([
      'identifier',
      'lparen',
      'attribute',
      'comma',
      'string',
      'comma',
      'number',
      'comma',
      'number',
      'comma',
      'hex',
      'comma',
      'identifier',
      'rparen',
      'compop',
      'number',
      'eof',
    ]);
    expect(toks[2]).toMatchObject({ name: 'a.b', pos: 2 });
    expect(toks[4]).toMatchObject({ value: 'x"y' });
    expect(toks[10]).toMatchObject({ value: 247 });
  });

  it('unescapes \\" and \\\\ and keeps other backslashes', () => {
    const [t] = tokenize('"a\\\\b\\"c\\+d\\d"');
    expect(t).toMatchObject({ kind: 'string', value: 'a\\b"c\\+d\\d' });
  });

  it('reads every comparison operator', () => {
    const ops = ['=', '<>', '>', '>=', '<', '<='].map((op) => tokenize(`1 ${op} 2`)[1]);
    expect(ops.map((t) => (t?.kind === 'compop' ? t.op : ''))).toEqual(['=', '<>', '>', '>=', '<', '<=']);
  });

  it('rejects expressions longer than 10,000 characters', () => {
    expect(() => tokenize(`"${'a'.repeat(10_000)}"`)).toThrow(/limit is 10000/);
  });
});

describe('parser', () => {
  it('parses nested calls, omitted arguments and a trailing empty argument', () => {
    const n = parseExpression('Replace([mail], "@contoso.com", , ,"", ,)');
    expect(n.type).toBe('call');
    if (n.type !== 'call') return;
    expect(n.args).toHaveLength(7);
    expect(n.args.map((a) => (a === null ? null : a.type))).toEqual([
      'attribute',
      'string',
      null,
      null,
      'string',
      null,
      null,
    ]);
  });

  it('keeps the omitted default of the SCIM active mapping', () => {
    const n = parseExpression('Switch([IsSoftDeleted], , "False", "True", "True", "False")');
    expect(n.type === 'call' && n.args[1]).toBeNull();
  });

  it('accepts whitespace, newlines and a space before "("', () => {
    const n = parseExpression(
      'IIF(Len([LastName]) <= 5,\n  Left(Join ("",[LastName],[FirstName]),10),\n  "x"\n)',
    );
    expect(printNode(n)).toBe('IIF(Len([LastName]) <= 5, Left(Join("", [LastName], [FirstName]), 10), "x")');
  });

  it('parses comparisons inside arguments and at the top level', () => {
    expect(parseExpression('[StatusRehire]=1')).toMatchObject({ type: 'compare', op: '=' });
    expect(parseExpression('CBool([a] = [b])')).toMatchObject({ args: [{ type: 'compare' }] });
  });

  it('distinguishes F() (no arguments) from F(,) (two omitted)', () => {
    expect(parseExpression('Now( )')).toMatchObject({ args: [] });
    expect(parseExpression('F(,)')).toMatchObject({ args: [null, null] });
  });

  it('print round-trips strings with quotes and backslashes', () => {
    const src = 'Replace([x], , "\\\\+(?<a>\\"q\\")", , "", , )';
    const printed = printNode(parseExpression(src));
    expect(printNode(parseExpression(printed))).toBe(printed);
    expect(parseExpression(printed)).toEqual(parseExpression(printed));
  });

  it('throws ExpressionError with a 1-based position', () => {
    try {
      parseExpression('Join(",", [a] [b])');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ExpressionError);
      expect((e as ExpressionError).position).toBe(15);
    }
  });
});

describe('syntax and static errors name the position and what was expected', () => {
  it.each([
    ['Join(",", [a] [b])', 15, /expected "," or "\)" in the arguments of Join but found \[b\]/],
    ['ToLower([a]', 12, /expected "," or "\)" .* but found the end of the expression/],
    ['ToLower([a]))', 13, /unbalanced/],
    ['"abc', 1, /unterminated string/],
    ['ToLower([])', 9, /expected an attribute name/],
    ['ToLower([a b])', 9, /invalid attribute name "a b"/],
    ['ToLower([a', 11, /expected "\]"/],
    ['ToLower(#)', 9, /unexpected character "#"/],
    ['&H', 3, /hex digits/],
    ['', 1, /expected a function call, \[attribute\], string or number but found the end/],
    ['[a] = [b] = [c]', 11, /cannot be chained/],
    ['Frobnicate([a])', 1, /unknown function "Frobnicate"/],
    ['Left([a])', 1, /Left expects 2 arguments but got 1/],
    ['Mid([a], 1, 2, 3)', 1, /Mid expects 3 arguments but got 4/],
    ['Now(1)', 1, /Now expects 0 arguments but got 1/],
    ['Join(",")', 1, /Join expects at least 2 arguments/],
    ['ToLower([a], "x", "y")', 1, /ToLower expects 1 to 2 arguments but got 3/],
    ['Switch([a], , "x")', 1, /Switch expects at least 4 arguments/],
    ['Switch([a], , "x", "y", "z")', 25, /even number of arguments/],
    ['ToLower(foo)', 9, /unknown name "foo"/],
    ['Replace([a], "x", , , , , )', 1, /Replace expects oldValue with replacementValue or template/],
    ['Replace([a], , "(", , "", , )', 16, /invalid regular expression/],
    ['InStr("a", "b", 1, vbFoo)', 20, /unknown name "vbFoo"|compareType/],
    ['DateAdd("fortnight", 1, Now())', 9, /unknown DateAdd interval/],
    ['Join("", SelectUniqueValue("a", "b"))', 10, /must be the whole expression/],
    ['SingleAppRoleAssignment([roles])', 25, /expects \[appRoleAssignments\]/],
    ['FormatDateTime([d], , , "yyyy")', 1, /inputFormat/],
  ])('%s', (expr, position, message) => {
    const e = syntaxError(expr);
    expect(e.position).toBe(position);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`position ${position}`);
  });

  it('accepts function names in any case', () => {
    expect(() => checkExpression('switch([companyName], "External", "Company A", "A")')).not.toThrow();
    expect(() => checkExpression('isnullorempty([x])')).not.toThrow();
  });
});
