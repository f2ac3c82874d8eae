import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { graphError } from './errors.js';

export type TokenResource = 'users' | 'groups' | 'assignments';

/**
 * What a $skiptoken / $deltatoken carries. `d` = deltaLink (a position to start the next round
 * from), `i` = page of an initial round (cursor over slots), `n` = page of an incremental round
 * (cursor over the change log). `s` = changes after this seq are in the round, `e` = seq at the
 * round's start (the round covers (s, e]), `c` = cursor, `o` = offset into a split group's members.
 */
export interface TokenState {
  r: TokenResource;
  k: 'd' | 'i' | 'n';
  s: number;
  e: number;
  c: number;
  o: number;
  sel?: string[] | undefined;
  f?: string[] | undefined;
}

interface Wire {
  st: TokenState;
  g: number;
  x: number;
  t: number;
}

/**
 * Opaque, tamper-evident tokens (base64url JSON + truncated HMAC). They hold the query of the
 * round's first request, as Graph's do, plus the reset generation, the expiry epoch and the issue
 * time, so that expiring or resetting all outstanding tokens is a counter bump, not a scan.
 */
export class DeltaTokens {
  private generation = 0;
  private epoch = 0;
  private readonly secret = randomBytes(32);

  constructor(private readonly maxAgeSeconds: number) {}

  expireAll(): void {
    this.epoch++;
  }
  resetAll(): void {
    this.generation++;
  }

  private mac(data: string): Buffer {
    return createHmac('sha256', this.secret).update(data).digest().subarray(0, 12);
  }

  encode(st: TokenState): string {
    const wire: Wire = { st, g: this.generation, x: this.epoch, t: Date.now() };
    const data = Buffer.from(JSON.stringify(wire)).toString('base64url');
    return `${data}.${this.mac(data).toString('base64url')}`;
  }

  /** Decodes and checks a token; throws the answer Graph gives for each kind of bad token. */
  decode(raw: string, resource: TokenResource, origin: string): TokenState {
    const wire = this.parse(raw);
    if (!wire || wire.st.r !== resource)
      throw graphError(
        400,
        'badRequest',
        `The ${resource === 'users' ? 'user' : resource} delta token is malformed.`,
      );
    if (resource === 'assignments') return wire.st;
    if (wire.g !== this.generation)
      throw graphError(
        410,
        'resyncRequired',
        'The delta token is no longer valid and the application must reset the sync state.',
        {
          Location: `${origin}/v1.0/${resource}/delta?$deltatoken=`,
        },
      );
    if (wire.x !== this.epoch || Date.now() - wire.t > this.maxAgeSeconds * 1000)
      throw graphError(
        400,
        'syncStateNotFound',
        'The sync state generation is not found. The delta token is expired and data must be synchronized again.',
      );
    return wire.st;
  }

  private parse(raw: string): Wire | undefined {
    const dot = raw.indexOf('.');
    if (dot < 0) return undefined;
    const data = raw.slice(0, dot);
    const mac = Buffer.from(raw.slice(dot + 1), 'base64url');
    const expected = this.mac(data);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    try {
      return JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as Wire;
    } catch {
      return undefined;
    }
  }
}
