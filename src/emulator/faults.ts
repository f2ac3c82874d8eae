export interface FaultRule {
  /** The next N matching requests (with `every`: at most N times). */
  count?: number;
  /** Every Kth matching request. */
  every?: number;
  /** Which requests match; default '/v1.0/' (Graph only, never /_ctl). */
  pathPrefix?: string;
}

export interface FaultSpec {
  throttle?: FaultRule & { status?: 429 | 503 | 504; retryAfter?: number | null };
  resetConnections?: FaultRule;
  latencyMs?: number;
  /** More latency for the requests under one path (for instance, a slow assignment listing). */
  slowPaths?: { pathPrefix: string; latencyMs: number }[];
  token?: { count: number; status?: number; retryAfter?: number };
  /** users/delta and groups/delta re-send objects and replay the last changes (graph-semantics §1.6). */
  duplicates?: boolean;
  malformedPage?: { count: number; pathPrefix?: string };
  /**
   * Graph rejects every access token, fresh ones too (401 InvalidAuthenticationToken), as it would
   * for a token signed with a key it does not trust or a clock skewed beyond its tolerance.
   */
  rejectTokens?: boolean;
  /** One malformed element inside otherwise valid answers, for as long as the fault is set. */
  malformedElement?: {
    /** Added to the members@delta of this group whenever groups/delta lists it. */
    memberOf?: { groupId: string; member: unknown };
    /** Added to the first page of the assignment listing. */
    assignment?: unknown;
  };
}

export type FaultDecision =
  { kind: 'reset' } | { kind: 'throttle'; status: number; retryAfter: number | null } | { kind: 'malformed' };

class Rule {
  private seen = 0;
  private fired = 0;
  constructor(private readonly r: FaultRule) {}

  /** With neither count nor every the fault is permanent until cleared. */
  fires(path: string): boolean {
    if (!path.startsWith(this.r.pathPrefix ?? '/v1.0/')) return false;
    this.seen++;
    if (this.r.count !== undefined && this.fired >= this.r.count) return false;
    if (this.r.every !== undefined && this.seen % this.r.every !== 0) return false;
    this.fired++;
    return true;
  }
}

export class Faults {
  private spec: FaultSpec = {};
  private throttle?: Rule | undefined;
  private reset?: Rule | undefined;
  private malformed?: Rule | undefined;
  private tokenLeft = 0;

  set(spec: FaultSpec): void {
    this.spec = { ...spec };
    this.throttle = spec.throttle ? new Rule(spec.throttle) : undefined;
    this.reset = spec.resetConnections ? new Rule(spec.resetConnections) : undefined;
    this.malformed = spec.malformedPage ? new Rule(spec.malformedPage) : undefined;
    this.tokenLeft = spec.token?.count ?? 0;
  }

  clear(): void {
    this.set({});
  }

  /** The added latency of a request to `path`. */
  latencyFor(path: string): number {
    let ms = this.spec.latencyMs ?? 0;
    for (const slow of this.spec.slowPaths ?? []) if (path.startsWith(slow.pathPrefix)) ms += slow.latencyMs;
    return ms;
  }

  get malformedElement(): FaultSpec['malformedElement'] {
    return this.spec.malformedElement;
  }

  get duplicates(): boolean {
    return this.spec.duplicates === true;
  }

  get rejectTokens(): boolean {
    return this.spec.rejectTokens === true;
  }

  decide(path: string): FaultDecision | undefined {
    if (this.reset?.fires(path)) return { kind: 'reset' };
    if (this.throttle?.fires(path)) {
      const t = this.spec.throttle!;
      return {
        kind: 'throttle',
        status: t.status ?? 429,
        retryAfter: t.retryAfter === undefined ? 1 : t.retryAfter,
      };
    }
    if (this.malformed?.fires(path)) return { kind: 'malformed' };
    return undefined;
  }

  /** A token-endpoint failure to answer instead of a token, if one is due. */
  takeTokenFault(): { status: number; retryAfter?: number } | undefined {
    if (this.tokenLeft <= 0) return undefined;
    this.tokenLeft--;
    const t = this.spec.token!;
    return t.retryAfter === undefined
      ? { status: t.status ?? 503 }
      : { status: t.status ?? 503, retryAfter: t.retryAfter };
  }
}
