import { randomBytes } from 'node:crypto';

/**
 * Bulk-created users have no stored id: the id is computed from the user's slot index and parsed
 * back on lookup, so a million users need no id strings or id->index map. A 4-round Feistel
 * permutation over 48 bits makes consecutive slots get unrelated-looking ids (clients must not get
 * away with relying on id order).
 */
const M24 = 0xffffff;
const K0 = 0x3c6ef3;
const K1 = 0xa54ff5;
const K2 = 0x510e52;
const K3 = 0x9b0568;
const f = (x: number, k: number) => (Math.imul(x ^ k, 0x45d9f3b) >>> 5) & M24;

/** Returns the permuted value's halves; straight-line because ids are made a million at a time. */
function permute(i: number): [number, number] {
  let l = Math.floor(i / 0x1000000) & M24;
  let r = i & M24;
  let t = l ^ f(r, K0);
  l = r;
  r = t;
  t = l ^ f(r, K1);
  l = r;
  r = t;
  t = l ^ f(r, K2);
  l = r;
  r = t;
  t = l ^ f(r, K3);
  return [r, t];
}

function unpermute(l: number, r: number): number {
  for (const k of [K3, K2, K1, K0]) [l, r] = [r ^ f(l, k), l];
  return l * 0x1000000 + r;
}

const H2 = Array.from({ length: 256 }, (_, n) => n.toString(16).padStart(2, '0'));
const H1 = '0123456789abcdef';
const hex6 = (x: number) => H2[(x >>> 16) & 255]! + H2[(x >>> 8) & 255]! + H2[x & 255]!;

export function hash32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

export class SlotIds {
  /** `prefix`: 8 hex digits shared by this tenant's bulk ids. */
  constructor(readonly prefix: string = randomBytes(4).toString('hex')) {}

  idFor(index: number): string {
    const [l, r] = permute(index);
    const h = hash32(r, l);
    return `${this.prefix}-${H2[h >>> 24]}${H2[(h >>> 16) & 255]}-4${H1[(h >>> 8) & 15]}${H2[h & 255]}-${H1[8 + ((h >>> 12) & 3)]}${H1[(h >>> 20) & 15]}${H2[(h >>> 4) & 255]}-${hex6(l)}${hex6(r)}`;
  }

  /** Slot index of a bulk id, or undefined when `id` is not one of ours. */
  indexOf(id: string): number | undefined {
    if (id.length !== 36 || !id.startsWith(this.prefix)) return undefined;
    const l = parseInt(id.slice(24, 30), 16);
    const r = parseInt(id.slice(30), 16);
    if (!Number.isFinite(l) || !Number.isFinite(r)) return undefined;
    const i = unpermute(l, r);
    return this.idFor(i) === id.toLowerCase() ? i : undefined;
  }
}

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');

/** A deterministic UUID-shaped id for seeded objects. */
export function seededUuid(seed: number, n: number): string {
  const h = [1, 2, 3, 4].map((k) => hash32(hash32(seed, n), k));
  const s = h.map((x) => hex(x, 8)).join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20, 32)}`;
}
