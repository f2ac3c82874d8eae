import { describe, expect, it } from 'vitest';
import { evaluateExpression, MappingEvaluationError } from '../../src/mapping/index.js';
import { ctx, ev, input } from './helpers.js';

const ACTIVE = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")';

describe('Switch', () => {
  it('the default SCIM active mapping', () => {
    expect(evaluateExpression(ACTIVE, input({}, { isSoftDeleted: false }), ctx())).toBe('True');
    expect(evaluateExpression(ACTIVE, input({}, { isSoftDeleted: true }), ctx())).toBe('False');
  });
  it('documented time-zone example and default', () => {
    const expr =
      'Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", "Australia/Adelaide")';
    expect(ev(expr, { state: 'QLD' })).toBe('Australia/Brisbane');
    expect(ev(expr, { state: 'WA' })).toBe('Australia/Sydney');
  });
  it('null or empty source matches the "" key (documented)', () => {
    const expr = 'Switch([country],[country],"","Other")';
    expect(ev(expr, {})).toBe('Other');
    expect(ev(expr, { country: '' })).toBe('Other');
    expect(ev(expr, { country: 'NL' })).toBe('NL');
    expect(ev('Switch([statusFlag], "Default Value", "true", "1", "", "0")', {})).toBe('0');
  });
  it('case-sensitive; no match and no default → null', () => {
    expect(ev('Switch([x], , "a", "1")', { x: 'A' })).toBeNull();
    expect(ev('Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")', { statusFlag: 'TRUE' })).toBe(
      '1',
    );
  });
  it('evaluates only the chosen branch (lazy default)', () => {
    expect(ev('Switch([x], CDate("not a date"), "a", "ok")', { x: 'a' })).toBe('ok');
    expect(() => ev('Switch([x], CDate("not a date"), "a", "ok")', { x: 'b' })).toThrow(
      MappingEvaluationError,
    );
  });
  it('nests, and IgnoreFlowIfNullOrEmpty around it drops an empty result', () => {
    const expr =
      'IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))';
    expect(ev(expr, { prefix: '3444' })).toBe('Prof.');
    expect(ev(expr, { prefix: '9' })).toBeNull();
  });
  it('DateDiff inside IIF inside Switch (documented accountEnabled example)', () => {
    const expr =
      'Switch([Active], , \n  "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), \n  "0", "False")';
    expect(ev(expr, { Active: '1', StatusHireDate: '2021-07-05' })).toBe('True');
    expect(ev(expr, { Active: '1', StatusHireDate: '2021-08-05' })).toBe('False');
    expect(ev(expr, { Active: '0' })).toBe('False');
  });
});

describe('IIF and comparisons', () => {
  it('documented examples incl. AND/OR by nesting', () => {
    expect(ev('IIF([country]="USA",[country],[department])', { country: 'USA', department: 'D' })).toBe(
      'USA',
    );
    expect(ev('IIF([country]="USA",[country],[department])', { country: 'NL', department: 'D' })).toBe('D');
    const and = 'IIF([country]="USA",IIF([state]="CA","True","False"),"False")';
    const or = 'IIF([country]="USA","True",IIF([state]="CA","True","False"))';
    expect(ev(and, { country: 'USA', state: 'CA' })).toBe('True');
    expect(ev(and, { country: 'USA', state: 'NY' })).toBe('False');
    expect(ev(or, { country: 'NL', state: 'CA' })).toBe('True');
    expect(ev(or, { country: 'NL', state: 'NY' })).toBe('False');
  });
  it('a null operand fails the condition (false branch) for every operator', () => {
    for (const op of ['=', '<>', '<', '<=', '>', '>=']) {
      expect(ev(`IIF([missing] ${op} "x", "t", "f")`)).toBe('f');
    }
  });
  it('numeric comparison when both sides are numbers, otherwise ordinal and case-sensitive', () => {
    expect(ev('IIF([n] > 9, "t", "f")', { n: '10' })).toBe('t');
    expect(ev('IIF([n] = 1, "t", "f")', { n: 1 })).toBe('t');
    expect(ev('IIF(Len([x])="10", "t", "f")', { x: '2021-01-01' })).toBe('t');
    expect(ev('IIF("b" > "a", "t", "f")')).toBe('t');
    expect(ev('IIF("a" = "A", "t", "f")')).toBe('f');
    expect(ev('IIF(InStr([x], "/", , )<"1", "none", "slash")', { x: 'a/b' })).toBe('slash');
    expect(ev('[a] <> [b]', { a: 'x', b: 'y' })).toBe('True');
    expect(ev('CDate("2021-01-02") >= CDate("2021-01-01")')).toBe('True');
  });
  it('IsNullOrEmpty / IsPresent are allowed as IIF conditions', () => {
    expect(ev('IIF(IsNullOrEmpty([x]),"N/A",[x])', {})).toBe('N/A');
    expect(ev('IIF(IsPresent([x]),[x],"Other")', { x: 'v' })).toBe('v');
  });
  it('branches are lazy', () => {
    expect(ev('IIF("True", "ok", CDate("garbage"))')).toBe('ok');
  });
});

describe('Coalesce / Is* / Not / CBool', () => {
  it('Coalesce documented example; "" counts as a value; all null → null', () => {
    expect(ev('Coalesce([mail],[userPrincipalName])', { userPrincipalName: 'John.Doe@contoso.com' })).toBe(
      'John.Doe@contoso.com',
    );
    expect(ev('Coalesce([mail],"fallback")', { mail: '' })).toBe('');
    expect(ev('Coalesce([a],[b])')).toBeNull();
    expect(ev('Coalesce([a],[b], "d")')).toBe('d');
  });
  it('IsNull / IsNullOrEmpty / IsPresent / IsString', () => {
    expect(ev('IsNull([displayName])')).toBe('True');
    expect(ev('IsNull([displayName])', { displayName: '' })).toBe('False');
    expect(ev('IsNullOrEmpty([displayName])', { displayName: '' })).toBe('True');
    expect(ev('IsNullOrEmpty([displayName])', { displayName: 'x' })).toBe('False');
    expect(ev('IsPresent([directManager])', { directManager: 'm' })).toBe('True');
    expect(ev('IsPresent([directManager])')).toBe('False');
    expect(ev('IsString("a")')).toBe('True');
    expect(ev('IsString(Len("a"))')).toBe('True');
    expect(ev('IsString([missing])')).toBe('False');
    expect(ev('IsString([list])', { list: ['a', 'b'] })).toBe('False');
    expect(ev('IsNull([list])', { list: [] })).toBe('True');
  });
  it('Not', () => {
    expect(ev('Not([IsSoftDeleted])')).toBe('True');
    expect(evaluateExpression('Not([IsSoftDeleted])', input({}, { isSoftDeleted: true }), ctx())).toBe(
      'False',
    );
    expect(ev('Not("true")')).toBe('False');
    expect(ev('Not("False")')).toBe('True');
    expect(ev('Not([missing])')).toBe('True');
    expect(ev('Not(IsNull([missing]))')).toBe('False');
  });
  it('CBool', () => {
    expect(ev('CBool([attribute1] = [attribute2])', { attribute1: 'a', attribute2: 'a' })).toBe('True');
    expect(ev('CBool([attribute1] = [attribute2])', { attribute1: 'a', attribute2: 'b' })).toBe('False');
    expect(ev('CBool(5)')).toBe('True');
    expect(ev('CBool("0")')).toBe('False');
    expect(ev('CBool("TRUE")')).toBe('True');
    expect(ev('CBool([missing])')).toBe('False');
    expect(ev('CBool([b])', { b: true })).toBe('True');
    expect(() => ev('CBool("maybe")')).toThrow(/CBool cannot convert "maybe"/);
  });
});

describe('flow control', () => {
  it('IgnoreFlowIfNullOrEmpty drops null and empty values', () => {
    expect(ev('IgnoreFlowIfNullOrEmpty([department])')).toBeNull();
    expect(ev('IgnoreFlowIfNullOrEmpty([department])', { department: '' })).toBeNull();
    expect(ev('IgnoreFlowIfNullOrEmpty([department])', { department: 'Sales' })).toBe('Sales');
    expect(ev('IgnoreFlowIfNullOrEmpty(IIF([country]="USA",[region],""))', { country: 'NL' })).toBeNull();
  });
  it('IgnoreAttributeFlow / IgnoreObjectFlow keywords', () => {
    expect(ev('IIF([x]="a", [Department], IgnoreAttributeFlow)', { x: 'b', Department: 'D' })).toBeNull();
    expect(ev('IIF([x]="a", [Department], IgnoreObjectFlow)', { x: 'a', Department: 'D' })).toBe('D');
    expect(ev('IIF([x]="a", [Department], IgnoreObjectFlow)', { x: 'b' })).toBeNull();
  });
});
