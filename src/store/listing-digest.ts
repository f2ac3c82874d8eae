import type { ListedAssignment } from './interface.js';

/**
 * An order-free digest of an assignment listing: the count and two 32-bit sums of each
 * assignment's 64-bit hash. Equal digests mean equal listings (up to a 2^-64 chance); both stores
 * save it with the listing they applied, so an unchanged listing (almost every cycle) is not compared.
 */
export class ListingDigest {
  private count = 0;
  private sumA = 0;
  private sumB = 0;

  /** Adds one assignment; returns its 64-bit hash. */
  add(a: ListedAssignment): bigint {
    const [h1, h2] = hash64(assignmentKey(a.principalId, a.principalType, a.appRoleId));
    this.count++;
    this.sumA = (this.sumA + h1) >>> 0;
    this.sumB = (this.sumB + h2) >>> 0;
    return join64(h1, h2);
  }

  toString(): string {
    return `${this.count}:${this.sumA.toString(16)}:${this.sumB.toString(16)}`;
  }
}

export const assignmentKey = (principalId: string, principalType: string, appRoleId: string) =>
  `${principalId}|${principalType}|${appRoleId}`;

export const join64 = (high: number, low: number): bigint => (BigInt(high) << 32n) | BigInt(low);

/** Two independent 32-bit hashes of a string (cyrb53's mixing, kept as two halves). */
export function hash64(text: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}
