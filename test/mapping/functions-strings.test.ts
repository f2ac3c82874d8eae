import { describe, expect, it } from 'vitest';
import { MappingEvaluationError } from '../../src/mapping/index.js';
import { ev } from './helpers.js';

describe('Append', () => {
  it('documented example', () => {
    expect(ev('Append([userPrincipalName], ".test")', { userPrincipalName: 'John.Doe@contoso.com' })).toBe(
      'John.Doe@contoso.com.test',
    );
  });
  it('constant source, null source, null suffix', () => {
    expect(ev('Append("SMTP:", [mail])', { mail: 'a@b.c' })).toBe('SMTP:a@b.c');
    expect(ev('Append([missing], ".test")')).toBeNull();
    expect(ev('Append("x", [missing])')).toBe('x');
  });
  it('documented alias example: Append(Mid(givenName,1,3), Mid(surname,1,5))', () => {
    expect(
      ev('Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))', { givenName: 'John', surname: 'Doe' }),
    ).toBe('JohDoe');
  });
});

describe('Join', () => {
  it('skips empty values (documented)', () => {
    expect(ev('Join(", ", "", [surname], [givenName])', { givenName: 'John', surname: 'Doe' })).toBe(
      'Doe, John',
    );
  });
  it('skips nulls, flattens lists, accepts numbers, "" separator', () => {
    expect(ev('Join(" ", [givenName], [missing], [surname])', { givenName: 'A', surname: 'B' })).toBe('A B');
    expect(ev('Join(";", [proxy], "z")', { proxy: ['x', 'y'] })).toBe('x;y;z');
    expect(ev('Join("", 1000, "x")')).toBe('1000x');
    expect(
      ev('Join("@", [mailNickname], DefaultDomain())', { mailNickname: 'jo' }, { defaultDomain: 'c.com' }),
    ).toBe('jo@c.com');
  });
  it('nothing left → null', () => {
    expect(ev('Join(" ", [a], [b])')).toBeNull();
  });
});

describe('Mid / Left / Len / Word', () => {
  it('Mid: 1-based, past the end, null, start < 1, length ≤ 0', () => {
    expect(ev('Mid("John Doe", 1, 3)')).toBe('Joh');
    expect(ev('Mid("John", 3, 10)')).toBe('hn');
    expect(ev('Mid("John", 9, 2)')).toBe('');
    expect(ev('Mid("John", 0, 2)')).toBe('Jo');
    expect(ev('Mid("John", 2, 0)')).toBe('');
    expect(ev('Mid([missing], 1, 2)')).toBeNull();
    expect(ev('Mid("abc", "1", "1")')).toBe('a');
  });
  it('Left: documented rules', () => {
    expect(ev('Left("John Doe", 3)')).toBe('Joh');
    expect(ev('Left("John", 0)')).toBe('');
    expect(ev('Left("John", -1)')).toBe('John');
    expect(ev('Left([missing], 3)')).toBe('');
    expect(ev('Left("Jo", 5)')).toBe('Jo');
  });
  it('Len: documented examples, null → 0', () => {
    expect(ev('Len("John Doe")')).toBe('8');
    expect(ev('Len(42568)')).toBe('5');
    expect(ev('Len(42568.75)')).toBe('8');
    expect(ev('Len([missing])')).toBe('0');
    expect(ev('Len("")')).toBe('0');
  });
  it('Len example 2: account alias', () => {
    const expr =
      'IIF(Len([LastName]) <= 5,\n  Left(Join ("",[LastName],[FirstName]),10),\n  Join("", Mid([LastName],1,9), Mid([FirstName],1,1))\n)';
    expect(ev(expr, { FirstName: 'John', LastName: 'Smith' })).toBe('SmithJohn');
    expect(ev(expr, { FirstName: 'John', LastName: 'Parker' })).toBe('ParkerJ');
  });
  it('Word: documented examples and edge cases', () => {
    expect(ev('Word("The quick brown fox",3," ")')).toBe('brown');
    expect(ev('Word("This,string!has&many separators",3,",!&#")')).toBe('has');
    expect(ev('Word("a  b", 2, " ")')).toBe('b');
    expect(ev('Word("a b", 0, " ")')).toBe('');
    expect(ev('Word("a b", 5, " ")')).toBe('');
    expect(ev('Word([missing], 1, " ")')).toBe('');
  });
  it('counts code points, not UTF-16 units', () => {
    expect(ev('Len("😀a")')).toBe('2');
    expect(ev('Left("😀ab", 1)')).toBe('😀');
    expect(ev('Mid("a😀b", 2, 1)')).toBe('😀');
  });
});

describe('StripSpaces / PCase / ToLower / ToUpper', () => {
  it('StripSpaces removes spaces only', () => {
    expect(ev('StripSpaces(" a b\tc ")')).toBe('ab\tc');
    expect(ev('StripSpaces([missing])')).toBeNull();
  });
  it('PCase documented examples', () => {
    expect(ev('PCase([firstName])', { firstName: 'PABLO GONSALVES (SECOND)' })).toBe(
      'Pablo Gonsalves (Second)',
    );
    expect(ev('PCase([lastName]," \'-")', { lastName: "PINTO-DE'SILVA" })).toBe("Pinto-De'Silva");
    expect(ev('PCase(Join(" ",[firstName],[lastName]))', { firstName: 'GREGORY', lastName: 'JAMES' })).toBe(
      'Gregory James',
    );
  });
  it('PCase keeps apostrophes inside words, handles unicode, null', () => {
    expect(ev('PCase("john\'s o\'neil-smith")')).toBe("John's O'neil-Smith");
    expect(ev('PCase("élodie ßtraße")')).toBe('Élodie ßtraße');
    expect(ev('PCase([missing])')).toBeNull();
  });
  it('ToLower documented UPN example', () => {
    expect(
      ev(
        'ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"))',
        {
          PreferredFirstName: 'John',
          PreferredLastName: 'Smith',
        },
      ),
    ).toBe('john.smith@contoso.com');
  });
  it('ToLower/ToUpper with culture, invariant by default, null', () => {
    expect(ev('ToUpper("istanbul")')).toBe('ISTANBUL');
    expect(ev('ToUpper("istanbul", "tr-TR")')).toBe('İSTANBUL');
    expect(ev('ToLower("ÉCOLE")')).toBe('école');
    expect(ev('ToUpper("straße")')).toBe('STRAßE');
    expect(ev('ToLower("İI")')).toBe('ii');
    expect(ev('ToLower("İI", "tr-TR")')).toBe('iı');
    expect(ev('ToLower([missing])')).toBeNull();
    expect(() => ev('ToLower("a", "not a culture!")')).toThrow(MappingEvaluationError);
  });
});

describe('encodings and CStr', () => {
  it('ConvertToBase64 (UTF-16LE) and ConvertToUTF8Hex documented examples', () => {
    expect(ev('ConvertToBase64("Hello world!")')).toBe('SABlAGwAbABvACAAdwBvAHIAbABkACEA');
    expect(ev('ConvertToUTF8Hex("Hello world!")')).toBe('48656C6C6F20776F726C6421');
    expect(ev('ConvertToUTF8Hex("é")')).toBe('C3A9');
    expect(ev('ConvertToBase64([missing])')).toBeNull();
  });
  it('CStr renders values as text', () => {
    expect(ev('CStr([dn])', { dn: 'cn=Joe,dc=contoso,dc=com' })).toBe('cn=Joe,dc=contoso,dc=com');
    expect(ev('CStr([enabled])', { enabled: true })).toBe('True');
    expect(ev('CStr([n])', { n: 42 })).toBe('42');
    expect(ev('CStr([missing])')).toBeNull();
  });
});

describe('Split', () => {
  it('documented example (parts trimmed)', () => {
    expect(
      ev('Split([extensionAttribute5], ",")', { extensionAttribute5: 'PermissionSetOne, PermissionSetTwo' }),
    ).toEqual(['PermissionSetOne', 'PermissionSetTwo']);
  });
  it('proxyAddresses pattern, null, empty delimiter', () => {
    const expr =
      'Split(Join(",", Append("smtp:", Join("@", NormalizeDiacritics(StripSpaces(Join(".", [givenName], [surname]))), "contoso.onmicrosoft.com")), Append("SMTP:", Join("@", NormalizeDiacritics(StripSpaces(Join(".", [givenName], [surname]))), "contoso.com"))), ",")';
    expect(ev(expr, { givenName: 'John', surname: 'Doe' })).toEqual([
      'smtp:John.Doe@contoso.onmicrosoft.com',
      'SMTP:John.Doe@contoso.com',
    ]);
    expect(ev('Split([missing], ",")')).toBeNull();
    expect(ev('Split("a,b", "")')).toEqual(['a,b']);
    expect(ev('Split("a,,b", ",")')).toEqual(['a', '', 'b']);
  });
  it('a list where one string is expected is an evaluation error', () => {
    expect(() => ev('ToLower([proxy])', { proxy: ['A', 'B'] })).toThrow(/single value but got a list of 2/);
    expect(ev('ToLower([proxy])', { proxy: ['A'] })).toBe('a');
  });
});

describe('NormalizeDiacritics', () => {
  it('documented example and table entries', () => {
    expect(ev('NormalizeDiacritics([givenName])', { givenName: 'Zoë' })).toBe('Zoe');
    expect(
      ev(
        'NormalizeDiacritics("äàâãåáąăā ÆǢ çčć ď ëèéêęěėē ğ ïîìíıī İ ľł Ł ñńň öòőõôóō øØ ř ß šśșş ťț üùûúůűū ÿý źžż")',
      ),
    ).toBe('aaaaaaaaa AEAE ccc d eeeeeeee g iiiiii I ll L nnn ooooooo oeOE r ss ssss tt uuuuuuu yy zzz');
  });
  it('combining sequences and characters outside the table', () => {
    expect(ev('NormalizeDiacritics("ā́ a̱ ø̄ œ̄")')).toBe('a a oe oe');
    expect(ev('NormalizeDiacritics("œ đ þ ð 한국 日本")')).toBe('œ đ þ ð 한국 日本');
    expect(ev('NormalizeDiacritics([missing])')).toBeNull();
  });
});
