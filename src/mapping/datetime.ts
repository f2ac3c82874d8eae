/**
 * Date/time helpers without dependencies. Everything is UTC (expressions.md §3 "Date and time (all UTC)").
 * Decision: the culture is en-US, which is what the documented default rendering `M/d/yyyy h:mm:ss tt` is.
 */

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** Rendering of a DateTime in a string target: `M/d/yyyy h:mm:ss tt`, e.g. `3/16/2020 7:00:00 AM`. */
export function formatDefaultDateTime(d: Date): string {
  return formatDateTime(d, 'M/d/yyyy h:mm:ss tt');
}

/** Standard (one-letter) .NET format strings, en-US. */
const STANDARD: Record<string, string> = {
  d: 'M/d/yyyy',
  D: 'dddd, MMMM d, yyyy',
  f: 'dddd, MMMM d, yyyy h:mm tt',
  F: 'dddd, MMMM d, yyyy h:mm:ss tt',
  g: 'M/d/yyyy h:mm tt',
  G: 'M/d/yyyy h:mm:ss tt',
  m: 'MMMM d',
  M: 'MMMM d',
  o: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
  O: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
  r: "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
  R: "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
  s: "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
  t: 'h:mm tt',
  T: 'h:mm:ss tt',
  u: "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
  y: 'MMMM yyyy',
  Y: 'MMMM yyyy',
};

type FmtToken = { kind: 'spec'; ch: string; n: number } | { kind: 'lit'; text: string };
const SPEC_CHARS = new Set(['y', 'M', 'd', 'H', 'h', 'm', 's', 'f', 'F', 't', 'z', 'K']);

/** Splits a .NET custom date/time format string into specifiers and literals. */
export function tokenizeFormat(format: string): FmtToken[] {
  const fmt = format.length === 1 && STANDARD[format] ? STANDARD[format] : format;
  const out: FmtToken[] = [];
  const lit = (text: string): void => {
    const last = out[out.length - 1];
    if (last?.kind === 'lit') last.text += text;
    else out.push({ kind: 'lit', text });
  };
  let i = 0;
  while (i < fmt.length) {
    const c = fmt[i] as string;
    if (c === "'" || c === '"') {
      const end = fmt.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated quote in date format "${format}"`);
      lit(fmt.slice(i + 1, end));
      i = end + 1;
    } else if (c === '\\') {
      lit(fmt[i + 1] ?? '');
      i += 2;
    } else if (c === '%') {
      i++;
    } else if (SPEC_CHARS.has(c)) {
      let j = i;
      while (fmt[j] === c) j++;
      out.push({ kind: 'spec', ch: c, n: j - i });
      i = j;
    } else {
      lit(c);
      i++;
    }
  }
  return out;
}

/** .NET `DateTime.ToString(format)` for a UTC DateTime (custom specifiers + the standard letters). */
export function formatDateTime(d: Date, format: string): string {
  let out = '';
  const ticks = d.getUTCMilliseconds() * 10000;
  for (const t of tokenizeFormat(format)) {
    if (t.kind === 'lit') {
      out += t.text;
      continue;
    }
    const { ch, n } = t;
    const year = d.getUTCFullYear();
    const hour = d.getUTCHours();
    switch (ch) {
      case 'y':
        out += n <= 2 ? pad(year % 100, n) : pad(year, n);
        break;
      case 'M':
        out +=
          n <= 2
            ? pad(d.getUTCMonth() + 1, n)
            : n === 3
              ? (MONTHS[d.getUTCMonth()] ?? '').slice(0, 3)
              : (MONTHS[d.getUTCMonth()] ?? '');
        break;
      case 'd':
        out +=
          n <= 2
            ? pad(d.getUTCDate(), n)
            : n === 3
              ? (DAYS[d.getUTCDay()] ?? '').slice(0, 3)
              : (DAYS[d.getUTCDay()] ?? '');
        break;
      case 'H':
        out += pad(hour, Math.min(n, 2));
        break;
      case 'h':
        out += pad(hour % 12 === 0 ? 12 : hour % 12, Math.min(n, 2));
        break;
      case 'm':
        out += pad(d.getUTCMinutes(), Math.min(n, 2));
        break;
      case 's':
        out += pad(d.getUTCSeconds(), Math.min(n, 2));
        break;
      case 'f':
        out += pad(ticks, 7).slice(0, Math.min(n, 7));
        break;
      case 'F':
        out += pad(ticks, 7).slice(0, Math.min(n, 7)).replace(/0+$/, '');
        break;
      case 't':
        out += (hour < 12 ? 'AM' : 'PM').slice(0, n === 1 ? 1 : 2);
        break;
      case 'z':
        out += n === 1 ? '+0' : n === 2 ? '+00' : '+00:00';
        break;
      case 'K':
        out += 'Z';
        break;
    }
  }
  return out;
}

/**
 * .NET `DateTime.ParseExact(text, format)` with AllowLeadingWhite|AllowTrailingWhite; offsets (`zzz`, `K`) are
 * applied and the result is UTC. Returns null when the text does not match. Missing date parts default to
 * 0001-01-01 (decision: .NET would use today's date, which makes results clock-dependent).
 */
export function parseExact(text: string, format: string): Date | null {
  const s = text.trim();
  let i = 0;
  let year = 1;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let fractionMs = 0;
  let pm: boolean | null = null;
  let offsetMin = 0;
  const digits = (min: number, max: number): number | null => {
    let j = i;
    while (j < s.length && j - i < max && s[j]! >= '0' && s[j]! <= '9') j++;
    if (j - i < min) return null;
    const v = Number(s.slice(i, j));
    i = j;
    return v;
  };
  const name = (names: string[], len: number | null): number | null => {
    for (let k = 0; k < names.length; k++) {
      const full = names[k] as string;
      const cand = len === null ? full : full.slice(0, len);
      if (s.slice(i, i + cand.length).toLowerCase() === cand.toLowerCase()) {
        i += cand.length;
        return k;
      }
    }
    return null;
  };
  const offset = (withColon: boolean | 'any'): boolean => {
    const sign = s[i];
    if (sign !== '+' && sign !== '-') return false;
    i++;
    const hh = digits(1, 2);
    if (hh === null) return false;
    let mm = 0;
    if (withColon !== false && s[i] === ':') {
      i++;
      const m = digits(2, 2);
      if (m === null) return false;
      mm = m;
    } else if (withColon === true) return false;
    offsetMin = (sign === '-' ? -1 : 1) * (hh * 60 + mm);
    return true;
  };
  for (const t of tokenizeFormat(format)) {
    if (t.kind === 'lit') {
      if (s.slice(i, i + t.text.length) !== t.text) return null;
      i += t.text.length;
      continue;
    }
    const { ch, n } = t;
    let v: number | null = null;
    switch (ch) {
      case 'y':
        if (n <= 2) {
          v = digits(n === 1 ? 1 : 2, 2);
          if (v !== null) year = v < 50 ? 2000 + v : 1900 + v;
        } else {
          v = digits(n, Math.max(n, 4));
          if (v !== null) year = v;
        }
        break;
      case 'M':
        v = n <= 2 ? digits(n, 2) : name(MONTHS, n === 3 ? 3 : null);
        if (v !== null) month = n <= 2 ? v : v + 1;
        break;
      case 'd':
        if (n <= 2) {
          v = digits(n, 2);
          if (v !== null) day = v;
        } else v = name(DAYS, n === 3 ? 3 : null);
        break;
      case 'H':
      case 'h':
        v = digits(n === 1 ? 1 : 2, 2);
        if (v !== null) hour = v;
        break;
      case 'm':
        v = digits(n === 1 ? 1 : 2, 2);
        if (v !== null) minute = v;
        break;
      case 's':
        v = digits(n === 1 ? 1 : 2, 2);
        if (v !== null) second = v;
        break;
      case 'f':
      case 'F': {
        const start = i;
        v = digits(ch === 'f' ? n : 0, n);
        if (v !== null && i > start) fractionMs = Math.floor(Number(`0.${s.slice(start, i)}`) * 1000);
        break;
      }
      case 't': {
        const word = s.slice(i, i + (n === 1 ? 1 : 2)).toUpperCase();
        if (word === 'AM' || word === 'A') pm = false;
        else if (word === 'PM' || word === 'P') pm = true;
        else return null;
        i += word.length;
        v = 0;
        break;
      }
      case 'z':
        v = offset(n >= 3 ? true : false) ? 0 : null;
        break;
      case 'K':
        if (s[i] === 'Z' || s[i] === 'z') i++;
        else offset('any');
        v = 0;
        break;
    }
    if (v === null) return null;
  }
  if (i !== s.length) return null;
  if (pm !== null) {
    if (hour < 1 || hour > 12) return null;
    hour = (hour % 12) + (pm ? 12 : 0);
  }
  return buildUtc(year, month, day, hour, minute, second, fractionMs, offsetMin);
}

function buildUtc(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  offsetMin: number,
): Date | null {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  if (d.getUTCDate() !== day) return null; // e.g. February 30
  return new Date(d.getTime() - offsetMin * 60_000);
}

const ISO =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const US =
  /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(?:\s*([AP]M))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const GENERALIZED = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{4})?$/i;

function parseOffset(z: string | undefined): number {
  if (!z || z.toUpperCase() === 'Z') return 0;
  const sign = z[0] === '-' ? -1 : 1;
  const body = z.slice(1).replace(':', '');
  return sign * (Number(body.slice(0, 2)) * 60 + Number(body.slice(2, 4)));
}

const fracMs = (f: string | undefined): number => (f ? Math.floor(Number(`0.${f}`) * 1000) : 0);

/**
 * Lenient parse in the spirit of .NET `DateTime.Parse` (CDate and date parameters). Accepts ISO 8601
 * (`2021-08-24`, `2009-06-15T01:45:30-07:00`, also a date with an offset such as `2020-03-16-07:00`), US
 * `M/d/yyyy h:mm:ss tt`, and LDAP generalized time (`20150123105347.1Z`). No offset = UTC. Null if unparsable.
 */
export function parseDateLoose(text: string): Date | null {
  const s = text.trim();
  let m = ISO.exec(s);
  if (m) {
    return buildUtc(
      Number(m[1]),
      Number(m[2]),
      Number(m[3]),
      Number(m[4] ?? 0),
      Number(m[5] ?? 0),
      Number(m[6] ?? 0),
      fracMs(m[7]),
      parseOffset(m[8]),
    );
  }
  m = US.exec(s);
  if (m) {
    let hour = Number(m[4] ?? 0);
    if (m[8]) {
      if (hour < 1 || hour > 12) return null;
      hour = (hour % 12) + (m[8].toUpperCase() === 'PM' ? 12 : 0);
    }
    return buildUtc(
      Number(m[3]),
      Number(m[1]),
      Number(m[2]),
      hour,
      Number(m[5] ?? 0),
      Number(m[6] ?? 0),
      fracMs(m[7]),
      parseOffset(m[9]),
    );
  }
  m = GENERALIZED.exec(s);
  if (m) {
    return buildUtc(
      Number(m[1]),
      Number(m[2]),
      Number(m[3]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
      fracMs(m[7]),
      parseOffset(m[8]),
    );
  }
  return null;
}

/** Adds months like .NET AddMonths: the day is clamped to the end of the target month. */
export function addMonths(d: Date, months: number): Date {
  const r = new Date(d.getTime());
  const day = r.getUTCDate();
  r.setUTCDate(1);
  r.setUTCMonth(r.getUTCMonth() + months);
  const last = new Date(Date.UTC(r.getUTCFullYear(), r.getUTCMonth() + 1, 0)).getUTCDate();
  r.setUTCDate(Math.min(day, last));
  return r;
}

/** 100-ns ticks between 1601-01-01 and 1970-01-01 (AD FILETIME epoch). */
export const FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000n;
