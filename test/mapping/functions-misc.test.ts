import { describe, expect, it } from 'vitest';
import { evaluateExpression, MappingEvaluationError } from '../../src/mapping/index.js';
import { ctx, ev, input, seq } from './helpers.js';

describe('InStr / BitAnd', () => {
  it('documented examples', () => {
    expect(ev('InStr("The quick brown fox","quick")')).toBe('5');
    expect(ev('InStr("repEated","e",3,vbBinaryCompare)')).toBe('7');
    expect(ev('BitAnd(&HF, &HF7)')).toBe('7');
  });
  it('InStr edge cases', () => {
    expect(ev('InStr("repEated","e",3,vbTextCompare)')).toBe('4');
    expect(ev('InStr("abc","z")')).toBe('0');
    expect(ev('InStr([missing],"z")')).toBe('0');
    expect(ev('InStr("abc","")')).toBe('1');
    expect(ev('InStr("abc","c", 9)')).toBe('0');
    expect(ev('InStr("a😀b","b")')).toBe('3');
    expect(
      ev('IIF(InStr([mail], "@contoso.com")=0, "external", "internal")', { mail: 'x@fabrikam.com' }),
    ).toBe('external');
  });
  it('BitAnd with decimal and string numbers, null', () => {
    expect(ev('BitAnd(12, "10")')).toBe('8');
    expect(ev('BitAnd([missing], 1)')).toBeNull();
    expect(() => ev('BitAnd("x", 1)')).toThrow(/expects a number/);
  });
});

describe('Item / Count / RemoveDuplicates', () => {
  const proxy = { proxyAddresses: ['SMTP:a@x', 'smtp:b@x', 'SMTP:a@x', 'smtp:A@x'] };
  it('Item is 1-based; out of range → null', () => {
    expect(ev('Item([proxyAddresses], 1)', proxy)).toBe('SMTP:a@x');
    expect(ev('Item([proxyAddresses], 4)', proxy)).toBe('smtp:A@x');
    expect(ev('Item([proxyAddresses], 0)', proxy)).toBeNull();
    expect(ev('Item([proxyAddresses], 9)', proxy)).toBeNull();
    expect(ev('Item([missing], 1)')).toBeNull();
    expect(ev('Item(Split("a,b", ","), 2)')).toBe('b');
  });
  it('Count: lists, single values, null', () => {
    expect(ev('Count([proxyAddresses])', proxy)).toBe('4');
    expect(ev('Count([single])', { single: 'x' })).toBe('1');
    expect(ev('Count([missing])')).toBe('0');
  });
  it('RemoveDuplicates keeps the first occurrence, exact match', () => {
    expect(ev('RemoveDuplicates([proxyAddresses])', proxy)).toEqual(['SMTP:a@x', 'smtp:b@x', 'smtp:A@x']);
    expect(ev('RemoveDuplicates([missing])')).toBeNull();
  });
});

describe('Replace (all modes)', () => {
  it('mode 1: oldValue + replacementValue', () => {
    expect(
      ev('Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )', {
        BusinessTitle: 'Product Developer',
      }),
    ).toBe('Software Engineer');
    expect(ev('Replace([mail], "@contoso.com", , ,"", ,)', { mail: 'john.doe@contoso.com' })).toBe(
      'john.doe',
    );
    expect(ev('Replace([preferredLanguage], "-", , , "_", , )', { preferredLanguage: 'en-US' })).toBe(
      'en_US',
    );
    expect(ev('Replace("aAa", "a", , , "b", , )')).toBe('bAb');
    expect(ev('Replace([missing], "a", , , "b", , )')).toBeNull();
  });
  it('mode 2: oldValue + template', () => {
    expect(ev('Replace([UserID],"<username>", , , , , "<username>@contoso.com")', { UserID: 'jsmith' })).toBe(
      'jsmith@contoso.com',
    );
  });
  it('mode 3: regexPattern + replacementValue', () => {
    const phone =
      'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", , "${phoneNumber}", , )';
    expect(ev(phone, { telephoneNumber: '+91 9998887777' })).toBe('9998887777');
    // The docs print 19998887777, but the pattern keeps the "+" (expressions.md §4 item 7).
    expect(ev('Replace([mobile], , "[()\\\\s-]+", , "", , )', { mobile: '+1 (999) 888-7777' })).toBe(
      '+19998887777',
    );
    expect(ev('Replace([mailNickname], , "[a-zA-Z_]*", , "", , )', { mailNickname: 'john_doe72' })).toBe(
      '72',
    );
    expect(ev('Replace("x", , "\\+(?<c>\\d+)", , "${c}", , )')).toBe('x');
    expect(ev('Replace("+44", , "\\+(?<c>\\d+)", , "${c}", , )')).toBe('44');
    expect(ev('Replace("ABC", , "(?i)b", , "-", , )')).toBe('A-C');
  });
  it('mode 4: regexPattern + regexGroupName + replacementValue', () => {
    expect(
      ev('Replace([AddressLineData], ,"(?<streetNumber>^\\\\d*)","streetNumber", "888", , )', {
        AddressLineData: '545 Tremont Street',
      }),
    ).toBe('888 Tremont Street');
    expect(
      ev('Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )', {
        userPrincipalName: 'jsmith@contoso.com',
      }),
    ).toBe('jsmith');
  });
  it('mode 5: regexPattern + regexGroupName + replacementAttributeName', () => {
    const expr =
      'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", "phoneNumber" , , [mobile], )';
    expect(ev(expr, { telephoneNumber: '', mobile: '+91 8887779999' })).toBe('8887779999');
    expect(ev(expr, { telephoneNumber: '123', mobile: '+91 8887779999' })).toBe('123');
    expect(ev(expr, { mobile: 'nope' })).toBeNull();
  });
  it('a pattern from an attribute that does not compile fails the evaluation', () => {
    expect(() => ev('Replace("a", , [p], , "", , )', { p: '(' })).toThrow(MappingEvaluationError);
  });
});

describe('context functions', () => {
  it('Guid: lower-case v4 from the injected random source', () => {
    const g = ev('Guid()', {}, { random: seq(0.5, 0.1, 0.9) });
    expect(g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ev('Guid()', {}, { random: seq(0.5, 0.1, 0.9) })).toBe(g);
  });
  it('RandomString meets the minimums and avoids characters', () => {
    for (let i = 0; i < 20; i++) {
      const s = ev('RandomString(10,2,2,2,1,"?,")') as string;
      expect(s).toHaveLength(10);
      expect(s.replace(/[^0-9]/g, '').length).toBeGreaterThanOrEqual(2);
      expect(s.replace(/[^A-Z]/g, '').length).toBeGreaterThanOrEqual(2);
      expect(s.replace(/[^a-z]/g, '').length).toBeGreaterThanOrEqual(1);
      expect(s.replace(/[A-Za-z0-9]/g, '').length).toBeGreaterThanOrEqual(2);
      expect(s).not.toMatch(/[?,]/);
    }
    const six = ev('RandomString(6,3,0,0,3)', {}, { random: seq(0.3, 0.7) }) as string;
    expect(six).toMatch(/^[0-9a-z]{6}$/);
    expect(() => ev('RandomString(3,2,2,0,0)')).toThrow(/add up to more than Length/);
    expect(() => ev('RandomString(300,0,0,0,0)')).toThrow(/at most 256/);
  });
  it('Redact flows the value unchanged', () => {
    expect(ev('Redact([userPrincipalName])', { userPrincipalName: 'u@x' })).toBe('u@x');
    expect(ev('Redact("StringToBeRedacted")')).toBe('StringToBeRedacted');
  });
  it('DefaultDomain from the context, error without it', () => {
    expect(ev('DefaultDomain()', {}, { defaultDomain: 'contoso.com' })).toBe('contoso.com');
    expect(() => ev('DefaultDomain()')).toThrow(/no default domain/);
  });
  it('SelectUniqueValue: documented UPN example against the local store', () => {
    const expr = `SelectUniqueValue(
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"),
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"),
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 2), [PreferredLastName]))), "contoso.com")
    )`;
    const attrs = { PreferredFirstName: 'John', PreferredLastName: 'Smith' };
    const taken = (...values: string[]) => ({
      isUniqueInTarget: (target: string, v: string) => target === 'userName' && !values.includes(v),
    });
    expect(ev(expr, attrs, taken())).toBe('John.Smith@contoso.com');
    expect(ev(expr, attrs, taken('John.Smith@contoso.com'))).toBe('J.Smith@contoso.com');
    expect(ev(expr, attrs, taken('John.Smith@contoso.com', 'J.Smith@contoso.com'))).toBe(
      'Jo.Smith@contoso.com',
    );
    expect(() =>
      ev(expr, attrs, taken('John.Smith@contoso.com', 'J.Smith@contoso.com', 'Jo.Smith@contoso.com')),
    ).toThrow(/every candidate already exists/);
    expect(() => ev(expr, attrs)).toThrow(/needs a lookup/);
  });
  it('SelectUniqueValue skips null candidates', () => {
    expect(ev('SelectUniqueValue([missing], "b")', {}, { isUniqueInTarget: () => true })).toBe('b');
  });
  it('app role assignments', () => {
    const roles = [
      { appRoleId: 'r1', value: 'Admin', displayName: 'Administrator' },
      { appRoleId: 'r2', value: null, displayName: 'Reader' },
      { appRoleId: 'r3' },
    ];
    const inp = input({}, { appRoleAssignments: roles });
    expect(evaluateExpression('SingleAppRoleAssignment([appRoleAssignments])', inp, ctx())).toBe('Admin');
    expect(evaluateExpression('[appRoleAssignments]', inp, ctx())).toEqual(['Admin', 'Reader', 'r3']);
    expect(evaluateExpression('AppRoleAssignmentsComplex([appRoleAssignments])', inp, ctx())).toEqual([
      '{"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"Administrator","value":"Admin"}',
      '{"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"Reader","value":"Reader"}',
      '{"primary":false,"type":"WindowsAzureActiveDirectoryRole","value":"r3"}',
    ]);
    expect(ev('SingleAppRoleAssignment([appRoleAssignments])')).toBeNull();
    expect(ev('AppRoleAssignmentsComplex([appRoleAssignments])')).toBeNull();
  });
});

describe('attributes', () => {
  it('absent, null, case-insensitive fallback, numbers and booleans', () => {
    expect(ev('[x]')).toBeNull();
    expect(ev('[x]', { x: null })).toBeNull();
    expect(ev('[UserPrincipalName]', { userPrincipalName: 'u@x' })).toBe('u@x');
    expect(ev('[n]', { n: 3.5 })).toBe('3.5');
    expect(ev('[accountEnabled]', { accountEnabled: false })).toBe('False');
    expect(ev('[isSoftDeleted]')).toBe('False');
    expect(ev('"constant"')).toBe('constant');
    expect(ev('7')).toBe('7');
  });
});
