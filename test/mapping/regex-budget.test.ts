/**
 * Issue 12 item 5: no attribute value can stall an evaluation. Patterns run on a linear-time engine, constructs it
 * cannot run are configuration errors, and every value an expression produces is bounded in size.
 */
import { describe, expect, it } from 'vitest';
import {
  compileMappings,
  MappingConfigError,
  MappingEvaluationError,
  type MappingDefinition,
} from '../../src/mapping/index.js';
import { MAX_VALUE_LENGTH } from '../../src/mapping/limits.js';
import { ctx, ev, input } from './helpers.js';

// The pattern, as written in a YAML/expression string: backslashes are kept by string-literal unescaping.
const CATASTROPHIC = '^([A-Za-z]+\\s?)+\\((?<dept>[^)]*)\\)$';
const HOSTILE = 'Ab'.repeat(20);

const base: MappingDefinition[] = [
  { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
];

describe('the catastrophic pattern of the issue', () => {
  it('returns the right result for the hostile value and its neighbours (mode 3)', () => {
    const expr = `Replace([displayName], , "${CATASTROPHIC}", , "\${dept}", , )`;
    expect(ev(expr, { displayName: HOSTILE })).toBe(HOSTILE); // no match: source unchanged
    expect(ev(expr, { displayName: HOSTILE + ' ' })).toBe(HOSTILE + ' ');
    expect(ev(expr, { displayName: 'Ab '.repeat(5000) })).toBe('Ab '.repeat(5000));
    expect(ev(expr, { displayName: 'Ann Bell (Sales)' })).toBe('Sales');
    expect(ev(expr, { displayName: `${HOSTILE} (R&D)` })).toBe('R&D');
  });

  it('returns the right result in modes 4 and 5', () => {
    const mode4 = `Replace([displayName], , "${CATASTROPHIC}", "dept", "-", , )`;
    expect(ev(mode4, { displayName: HOSTILE })).toBe(HOSTILE);
    expect(ev(mode4, { displayName: 'Ann Bell (Sales)' })).toBe('Ann Bell (-)');
    const mode5 = `Replace([department], , "${CATASTROPHIC}", "dept", , [displayName], )`;
    expect(ev(mode5, { displayName: HOSTILE })).toBeNull();
    expect(ev(mode5, { displayName: 'Ann Bell (Sales)' })).toBe('Sales');
  });

  it('a pattern read from an attribute value runs on the same engine', () => {
    expect(ev('Replace([displayName], , [p], , "x", , )', { displayName: HOSTILE, p: CATASTROPHIC })).toBe(
      HOSTILE,
    );
  });
});

describe('.NET constructs the linear-time engine cannot run', () => {
  const cases: [string, RegExp][] = [
    ['(a)\\1', /backreference/],
    ['(?<n>a)\\k<n>', /backreference/],
    ['a(?=b)', /lookahead/],
    ['a(?!b)', /lookahead/],
    ['(?<=a)b', /lookbehind/],
    ['(?<!a)b', /lookbehind/],
    ['(?>a+)b', /atomic group/],
    ['(?(a)b|c)', /conditional/],
    ['(?<o>a)(?<c-o>b)', /balancing group/],
    ['[a-z-[aeiou]]', /character class subtraction/],
    ['\\Ga', /\\G/],
    ['(?x) a b', /inline option x/],
    // RE2 would run these with another meaning than .NET, or .NET refuses them.
    ['c\\Z', /"\\Z"/],
    ['[\\W_]', /"\\W" inside a character class/],
    ['[\\S]', /"\\S" inside a character class/],
    ['\\Qa.b\\E', /"\\Q"/],
    ['\\pL', /"\\p" without braces/],
    ['(?U)a+', /unknown inline option U/],
  ];

  it.each(cases)('%s is a configuration error naming the mapping and the construct', (pattern, construct) => {
    const defs: MappingDefinition[] = [
      ...base,
      { target: 'displayName', expression: `Replace([displayName], , "${pattern}", , "", , )` },
    ];
    let error: unknown;
    try {
      compileMappings(defs);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MappingConfigError);
    expect((error as Error).message).toMatch(
      /^mappings\[1\] \(target "displayName"\), expression at position \d+:/,
    );
    expect((error as Error).message).toMatch(construct);
  });

  it('an unterminated class or comment is an error, not silently closed', () => {
    expect(() => ev('Replace([x], , [p], , "", , )', { x: 'ab', p: '[ab' })).toThrow(/missing closing \]/);
    expect(() => ev('Replace([x], , [p], , "", , )', { x: 'ab', p: 'a(?#b' })).toThrow(/missing closing \)/);
  });

  it('the same construct in a pattern read from an attribute fails that evaluation only', () => {
    expect(() => ev('Replace([x], , [p], , "", , )', { x: 'ab', p: 'a(?=b)' })).toThrow(
      /lookahead .*not supported/,
    );
    expect(() => ev('Replace([x], , [p], , "", , )', { x: 'ab', p: 'a(?=b)' })).toThrow(
      MappingEvaluationError,
    );
  });
});

describe('the matches of one Replace share a time budget', () => {
  it('a pattern that makes a global replace quadratic fails the user, promptly and by name', () => {
    // `a*b|` matches empty at each position after scanning the rest of the value: quadratic overall.
    const started = Date.now();
    expect(() => ev('Replace([x], , "a*b|", , "", , )', { x: 'a'.repeat(60_000) })).toThrow(
      /ran past its 1000 ms budget/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    // The same pattern on an ordinary value is fine.
    expect(ev('Replace([x], , "a*b|", , "-", , )', { x: 'aab' })).toBe('--');
  });
});

describe('.NET semantics on the linear-time engine', () => {
  it('keeps the documented Replace examples', () => {
    expect(
      ev(
        'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", , "${phoneNumber}", , )',
        {
          telephoneNumber: '+1 1234567890',
        },
      ),
    ).toBe('1234567890');
    expect(ev('Replace([mobile], , "[()\\\\s-]+", , "", , )', { mobile: '+1 (999) 888-7777' })).toBe(
      '+19998887777',
    );
    expect(ev('Replace("ABC", , "(?i)b", , "-", , )')).toBe('A-C');
    expect(ev('Replace("baaac", , "a*", , "-", , )')).toBe('-b--c-');
  });

  it('\\w, \\d and \\s are Unicode classes, as in .NET', () => {
    expect(ev('Replace("José Müller", , "\\\\w+", , "x", , )')).toBe('x x');
    expect(ev('Replace("a\u00a0b", , "\\\\s", , "_", , )')).toBe('a_b');
    expect(ev('Replace("x٣y", , "\\\\d", , "#", , )')).toBe('x#y');
    expect(ev('Replace("a-é_1", , "[\\\\w]", , "", , )')).toBe('-');
    expect(ev('Replace("été", , "\\\\u00e9", , "e", , )')).toBe('ete');
  });

  it('expands .NET substitutions, numbering named groups after unnamed ones', () => {
    expect(ev('Replace("ab", , "(a)(b)", , "$2$1", , )')).toBe('ba');
    expect(ev('Replace("ab", , "(a)(b)", , "${2}-$$-$&", , )')).toBe('b-$-ab');
    // .NET: unnamed groups first, so $1 is (b) and $2 is the named group.
    expect(ev('Replace("ab", , "(?<first>a)(b)", , "$1$2", , )')).toBe('ba');
    expect(ev('Replace("ab", , "(a)", , "$9", , )')).toBe('$9b');
    expect(ev('Replace("ab", , "(a)", , "${nope}", , )')).toBe('${nope}b');
    expect(ev('Replace("xaby", , "ab", , "[$`|$\'|$_]", , )')).toBe('x[x|y|xaby]y');
    expect(ev('Replace("ab", , "(?\'g\'a)", , "<${g}>", , )')).toBe('<a>b');
  });

  it('mode 4 accepts a group number', () => {
    expect(ev('Replace("a1b2", , "[a-z](\\\\d)", "1", "#", , )')).toBe('a#b#');
  });
});

describe('every value an expression produces is bounded', () => {
  const square = 'Replace([x], "a", , , [x], , )';

  it('a value over the bound fails the evaluation with a clear error, before it is built', () => {
    const x = 'a'.repeat(400); // 400 × 400 = 160,000 characters
    expect(() => ev(square, { x })).toThrow(MappingEvaluationError);
    expect(() => ev(square, { x })).toThrow(
      new RegExp(`Replace: the result would exceed ${MAX_VALUE_LENGTH}`),
    );
    expect(ev(square, { x: 'a'.repeat(300) })).toHaveLength(90_000); // the neighbour under the bound
    const cube = `Replace(${square}, "a", , , ${square}, , )`; // 10^4 × 10^4 × … would not fit in memory
    expect(() => ev(cube, { x: 'a'.repeat(100) })).toThrow(/would exceed/);
  });

  it('holds for regex replacements, Join and Append', () => {
    const x = 'a'.repeat(1000);
    expect(() => ev('Replace([x], , "", , [x], , )', { x })).toThrow(/Replace: the result would exceed/);
    const many = Array.from({ length: 200 }, () => '[x]').join(', ');
    expect(() => ev(`Join("", ${many})`, { x })).toThrow(/Join: the result would exceed/);
    expect(() => ev('Append([y], [y])', { y: 'b'.repeat(60_000) })).toThrow(
      /Append: the result would exceed/,
    );
  });

  it('the error names the mapping and fails only that evaluation', () => {
    const compiled = compileMappings([...base, { target: 'displayName', expression: square }]);
    const run = (x: string) => compiled.evaluate(input({ userPrincipalName: 'u@contoso.com', x }), ctx());
    expect(() => run('a'.repeat(400))).toThrow(/^mapping to displayName: Replace: the result would exceed/);
    expect(run('abc').find((m) => m.target === 'displayName')!.value).toBe('abcbc');
  });
});

describe('warnings about patterns that backtrack catastrophically in Entra', () => {
  it('names the mapping and the nested quantifier, and leaves safe patterns alone', () => {
    const compiled = compileMappings([
      ...base,
      { target: 'displayName', expression: `Replace([displayName], , "${CATASTROPHIC}", , "\${dept}", , )` },
      { target: 'title', expression: 'Replace([jobTitle], , "(\\\\w+\\\\s*)*$", , "", , )' },
      { target: 'nickName', expression: 'Replace([mobile], , "[()\\\\s-]+", , "", , )' },
      { target: 'locale', expression: 'Replace([x], , "(ab|cd){2}(e+)", , "", , )' },
    ]);
    expect(compiled.warnings).toHaveLength(2);
    expect(compiled.warnings[0]).toMatch(/^mappings\[1\] \(target "displayName"\): .*nested quantifier/);
    expect(compiled.warnings[0]).toContain('([A-Za-z]+\\s?)+');
    expect(compiled.warnings[1]).toMatch(/^mappings\[2\] \(target "title"\)/);
  });
});
