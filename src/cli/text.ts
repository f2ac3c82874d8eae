/**
 * Characters that must not reach a terminal raw from user data: C0 controls and DEL (cursor and
 * screen control, fake line breaks), C1 controls (U+0080–U+009F; U+009B is a CSI on some terminals),
 * zero-width characters and marks (U+200B–U+200F), line and paragraph separators (U+2028–U+2029),
 * bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069; "Trojan Source"),
 * the Arabic letter mark (U+061C) and the byte-order mark (U+FEFF).
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u2029\u202A-\u202E\u2066-\u2069\uFEFF]/g;

/** `text` with each unsafe character written as \u{XXXX}, for human (non-JSON) output. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`);
}
