/**
 * The rules a userName obeys (pure). The store's UNIQUE index on `users.user_name` compares with
 * SQLite's NOCASE collation, which folds A–Z to a–z and nothing else; matching and every conflict
 * check fold the same way, so "Ärger" and "ärger" are two names everywhere, never one name here
 * and two there (README, "Matching and linking").
 */
export function foldUserName(userName: string): string {
  return userName.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export function sameUserName(a: string, b: string): boolean {
  return a === b || foldUserName(a) === foldUserName(b);
}

/**
 * Characters a userName must not hold: C0 and C1 controls and DEL, zero-width characters and
 * directional marks (U+200B–U+200F), bidirectional embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069), line and paragraph separators and the BOM. Invisible or
 * reordering, they make one name look like another (an admin reading `audit` sees "admin").
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/u;

/** Why this userName cannot be written, naming the first unsafe character by code point; or null. */
export function userNameProblem(userName: string): string | null {
  const found = UNSAFE.exec(userName);
  if (!found) return null;
  const codePoint = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `userName contains the invisible or control character U+${codePoint} at position ${found.index + 1}; fix the source attribute or the mapping`;
}
