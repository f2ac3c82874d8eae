/**
 * Text into HTML for the status page. Values come from Graph and the store, so they are hostile:
 * markup is escaped, and characters that can disguise text (controls, zero-width, bidi overrides)
 * are shown as \u{XXXX}, as the CLI shows them.
 */

/**
 * The set of src/cli/text.ts (`escapeControls`), which cannot be imported from here: cli/ imports
 * daemon/, and the folders must not import each other. test/daemon/status-page.test.ts checks that
 * the two agree on every character.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u2029\u202A-\u202E\u2066-\u2069\uFEFF]/g;

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** `value` as HTML text or attribute value (always quoted with "). */
export function escapeHtml(value: string | number): string {
  return String(value)
    .replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`)
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** 12,345 */
export const num = (n: number) => n.toLocaleString('en-US');

/** 40 ms, 4.2 s, 12 s, 3 min 5 s, 2 h 10 min */
export function duration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  if (m < 48 * 60) return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.round(m / 1440)} days`;
}

/** 2026-11-30 10:12:03 UTC: ISO without the noise, still unambiguous. */
export function time(iso: string | null): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
