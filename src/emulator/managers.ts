/**
 * Manager links. A link names a user by id; it counts (is "effective") only while that user is
 * active, so a soft-deleted manager vanishes from GET /manager and from delta and comes back on
 * restore, as the user's other relationships do. Each effective change is kept per report with
 * its seq, so a delta round can say which manager went away since its token.
 */
export class ManagerLinks {
  /** report slot -> manager id (the stored link, effective or not). */
  readonly linkOf = new Map<number, string>();
  /** manager id -> report slots. */
  readonly reportsOf = new Map<string, Set<number>>();
  /** report slot -> effective manager after each change, oldest first. */
  private history = new Map<number, { seq: number; managerId: string | null }[]>();

  link(report: number, managerId: string | null): void {
    const old = this.linkOf.get(report);
    if (old !== undefined) this.reportsOf.get(old)?.delete(report);
    if (managerId === null) {
      this.linkOf.delete(report);
      return;
    }
    this.linkOf.set(report, managerId);
    let set = this.reportsOf.get(managerId);
    if (!set) this.reportsOf.set(managerId, (set = new Set()));
    set.add(report);
  }

  record(report: number, seq: number, effective: string | null): void {
    let h = this.history.get(report);
    if (!h) this.history.set(report, (h = []));
    h.push({ seq, managerId: effective });
  }

  /** The effective manager right after `seq` (null: none, or no change recorded by then). */
  effectiveAt(report: number, seq: number): string | null {
    const h = this.history.get(report);
    if (!h) return null;
    let found: string | null = null;
    for (const e of h) {
      if (e.seq > seq) break;
      found = e.managerId;
    }
    return found;
  }

  /** Whether the effective manager changed after `seq`. */
  changedSince(report: number, seq: number): boolean {
    const h = this.history.get(report);
    return !!h && h.length > 0 && h[h.length - 1]!.seq > seq;
  }
}
