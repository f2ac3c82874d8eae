import { describe, expect, it } from 'vitest';
import { formatDateTime, parseExact } from '../../src/mapping/datetime.js';
import { ev } from './helpers.js';

describe('CDate / Now', () => {
  it('documented examples (UTC, M/d/yyyy h:mm:ss tt)', () => {
    expect(ev('CDate([StatusHireDate])', { StatusHireDate: '2020-03-16-07:00' })).toBe(
      '3/16/2020 7:00:00 AM',
    );
    expect(ev('CDate("2021-06-30+08:00")')).toBe('6/29/2021 4:00:00 PM');
    expect(ev('CDate("2009-06-15T01:45:30-07:00")')).toBe('6/15/2009 8:45:30 AM');
  });
  it('other accepted forms, null, garbage', () => {
    expect(ev('CDate("8/25/2021 5:41:18 PM")')).toBe('8/25/2021 5:41:18 PM');
    expect(ev('CDate("2021-08-24")')).toBe('8/24/2021 12:00:00 AM');
    expect(ev('CDate("20150123105347.1Z")')).toBe('1/23/2015 10:53:47 AM');
    expect(ev('CDate("2021-08-24T10:00:00Z")')).toBe('8/24/2021 10:00:00 AM');
    expect(ev('CDate([missing])')).toBeNull();
    expect(() => ev('CDate("next tuesday")')).toThrow(/cannot parse "next tuesday" as a date/);
    expect(() => ev('CDate("2021-02-30")')).toThrow(/cannot parse/);
  });
  it('Now uses the injected clock', () => {
    expect(ev('Now()')).toBe('7/2/2021 3:33:38 PM');
  });
});

describe('DateAdd', () => {
  it.each([
    ['d', '7', '3/23/2012 7:00:00 AM'],
    ['d', '-10', '3/6/2012 7:00:00 AM'],
    ['ww', '2', '3/30/2012 7:00:00 AM'],
    ['m', '10', '1/16/2013 7:00:00 AM'],
    ['yyyy', '2', '3/16/2014 7:00:00 AM'],
    ['h', '1', '3/16/2012 8:00:00 AM'],
    ['n', '90', '3/16/2012 8:30:00 AM'],
    ['s', '"30"', '3/16/2012 7:00:30 AM'],
  ])('documented table: %s %s', (interval, value, out) => {
    expect(
      ev(`DateAdd("${interval}", ${value}, CDate([StatusHireDate]))`, { StatusHireDate: '2012-03-16-07:00' }),
    ).toBe(out);
  });
  it('clamps month ends, null date, unknown interval from an attribute', () => {
    expect(ev('DateAdd("m", 1, CDate("2021-01-31"))')).toBe('2/28/2021 12:00:00 AM');
    expect(ev('DateAdd("d", 1, [missing])')).toBeNull();
    expect(() => ev('DateAdd([i], 1, Now())', { i: 'fortnight' })).toThrow(/unknown interval/);
    expect(ev('DateAdd("d", "10", Now())')).toBe('7/12/2021 3:33:38 PM');
  });
});

describe('DateDiff', () => {
  it.each([
    ['d', '2021-08-18+08:00', '2021-08-31+08:00', '13'],
    ['d', '8/25/2021 5:41:18 PM', '2012-03-16-07:00', '-3449'],
    ['ww', '8/25/2021 5:41:18 PM', '2012-03-16-07:00', '-493'],
    ['m', '8/25/2021 5:41:18 PM', '2012-03-16-07:00', '-113'],
    ['yyyy', '8/25/2021 5:41:18 PM', '2012-03-16-07:00', '-9'],
    ['d', '2021-08-31+08:00', '2021-08-31+08:00', '0'],
    ['h', '2021-08-24', '2021-08-25', '24'],
    ['n', '2021-08-24', '2021-08-25', '1440'],
    ['s', '2021-08-24', '2021-08-25', '86400'],
  ])('documented table: %s(%s, %s) = %s', (interval, d1, d2, out) => {
    expect(ev(`DateDiff("${interval}", CDate("${d1}"), CDate("${d2}"))`)).toBe(out);
  });
  it('null date → null', () => {
    expect(ev('DateDiff("d", Now(), [missing])')).toBeNull();
  });
});

describe('NumFromDate / DateFromNum', () => {
  it('FILETIME round trip (documented DateFromNum example)', () => {
    expect(ev('DateFromNum(129699324000000000)')).toBe('1/1/2012 11:00:00 PM');
    expect(ev('NumFromDate("2012-01-01T23:00:00Z")')).toBe('129699324000000000');
    expect(ev('NumFromDate("2025-12-31T23:59:59-08:00")')).toBe('134117279990000000');
    expect(ev('DateFromNum(NumFromDate("2020-05-05T10:11:12Z"))')).toBe('5/5/2020 10:11:12 AM');
  });
  it('documented Workday / SuccessFactors accountExpires patterns', () => {
    expect(
      ev(
        'NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))',
        {
          ContractEndDate: '2025-12-31-08:00',
        },
      ),
    ).toBe('134117279990000000');
    expect(
      ev(
        'NumFromDate(Join("",FormatDateTime([endDate], ,"M/d/yyyy hh:mm:ss tt","yyyy-MM-dd")," 23:59:59-08:00"))',
        {
          endDate: '12/31/2025 10:00:00 AM',
        },
      ),
    ).toBe('134117279990000000');
  });
  it('null and bad input', () => {
    expect(ev('NumFromDate([missing])')).toBeNull();
    expect(ev('DateFromNum([missing])')).toBeNull();
    expect(() => ev('DateFromNum("abc")')).toThrow(/expects an integer/);
  });
});

describe('FormatDateTime', () => {
  it('documented example, 4- and 3-argument forms', () => {
    expect(
      ev('FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")', {
        extensionAttribute1: '20150123105347.1Z',
      }),
    ).toBe('2015-01-23');
    expect(
      ev('FormatDateTime([extensionAttribute1], "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")', {
        extensionAttribute1: '20150123105347.1Z',
      }),
    ).toBe('2015-01-23');
    expect(ev('FormatDateTime([d], "32", "dd/MM/yyyy", "yyyy-MM-dd")', { d: '05/11/2023' })).toBe(
      '2023-11-05',
    );
  });
  it('a DateTime source skips parsing; null; mismatch', () => {
    expect(ev('FormatDateTime(Now(), , "ignored", "yyyy-MM-ddTHH:mm:ssZ")')).toBe('2021-07-02T15:33:38Z');
    expect(ev('FormatDateTime([missing], , "yyyy", "yyyy")')).toBeNull();
    expect(() => ev('FormatDateTime("2021/01/01", , "yyyy-MM-dd", "yyyy")')).toThrow(
      /does not match the format/,
    );
  });
  it('custom and standard specifiers', () => {
    const d = new Date(Date.UTC(2021, 6, 2, 15, 3, 8, 45));
    expect(formatDateTime(d, 'yyyy-MM-dd HH:mm:ss.fff')).toBe('2021-07-02 15:03:08.045');
    expect(formatDateTime(d, 'yy M d h:m:s tt t')).toBe('21 7 2 3:3:8 PM P');
    expect(formatDateTime(d, 'dddd, MMMM d, yyyy')).toBe('Friday, July 2, 2021');
    expect(formatDateTime(d, "ddd MMM 'at' HH\\h zzz K")).toBe('Fri Jul at 15h +00:00 Z');
    expect(formatDateTime(d, 'FFF')).toBe('045');
    expect(formatDateTime(new Date(Date.UTC(2021, 0, 1)), 'ss.FFF')).toBe('00.');
    expect(formatDateTime(d, 'o')).toBe('2021-07-02T15:03:08.0450000Z');
    expect(formatDateTime(d, 's')).toBe('2021-07-02T15:03:08');
    expect(formatDateTime(d, 'u')).toBe('2021-07-02 15:03:08Z');
    expect(formatDateTime(d, 'd')).toBe('7/2/2021');
    expect(formatDateTime(d, 'G')).toBe('7/2/2021 3:03:08 PM');
  });
  it('parseExact handles offsets, names, 12-hour clock and rejects bad dates', () => {
    expect(parseExact('2019-06-06-07:00', 'yyyy-MM-ddzzz')?.toISOString()).toBe('2019-06-06T07:00:00.000Z');
    expect(parseExact(' 02 Jul 2021 ', 'dd MMM yyyy')?.toISOString()).toBe('2021-07-02T00:00:00.000Z');
    expect(parseExact('12/31/2025 12:30:00 AM', 'M/d/yyyy hh:mm:ss tt')?.toISOString()).toBe(
      '2025-12-31T00:30:00.000Z',
    );
    expect(parseExact('2021-07-02T10:00:00+02:00', 'yyyy-MM-ddTHH:mm:ssK')?.toISOString()).toBe(
      '2021-07-02T08:00:00.000Z',
    );
    expect(parseExact('2021-02-30', 'yyyy-MM-dd')).toBeNull();
    expect(parseExact('2021-01-01x', 'yyyy-MM-dd')).toBeNull();
  });
});
