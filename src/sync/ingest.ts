import type { AuditDraft } from '../plan/audit-entry.js';
import type { UserChange } from '../source/types.js';
import type { AttributeValue } from '../source/types.js';
import { UNUSABLE_DATA, type KnownUser, type MirrorWrite, type MirroredUser } from '../store/index.js';
import { sourceError, type CycleContext } from './context.js';
import { applyPlanned, factsOf, planUsers } from './pipeline.js';

/**
 * - `full`: a full round's page: complete objects; users neither in scope nor linked are skipped
 *   (they are read when they enter scope).
 * - `changes`: an incremental round's page (`return=minimal`: only what changed): merged into the
 *   mirror; a user never mirrored that matters is collected in `toRead`, since its change alone is
 *   not the whole user.
 * - `read`: users read by id: complete, and all of them matter.
 * With scope `all` every user matters, and every change is taken as before.
 */
export type IngestMode = 'full' | 'changes' | 'read';

/**
 * Mirrors a batch of changes (in the order given), then plans and applies each user once: the
 * store's facts about the batch in one call, its writes in one call. The mirror is updated here, in
 * memory, and planned from; the store writes it with the actions.
 */
export async function ingest(
  ctx: CycleContext,
  items: readonly UserChange[],
  mode: IngestMode,
  generation: number,
  toRead?: Set<string>,
): Promise<void> {
  const ids: string[] = [];
  for (const item of items) if (item.id !== null) ids.push(item.id);
  const known = await ctx.store.knownUsers(ids, { appRoles: ctx.mappings.usesAppRoleAssignments });
  const batch = new MirrorBatch(ctx, known, mode, generation, toRead);
  for (const item of items) batch.take(item);
  await resolveChangedManagers(ctx, known, batch.toPlan);
  const planned = await planUsers(
    ctx,
    [...batch.toPlan].map((id) => factsOf(ctx, known.get(id)!)),
  );
  // After the decisive facts were planned, a user whose data is unusable stays failed (escrowed)
  // until its data is usable again; one released (out of scope, no longer managed) no longer matters.
  const released = new Map(planned.map((p) => [p.action.entraId, p.action.release]));
  const after: MirrorWrite[] = [...batch.unusable].map(([entraId, problem]) =>
    (released.get(entraId) ?? known.get(entraId)?.source?.released)
      ? { op: 'usableAgain', entraId }
      : { op: 'fail', entraId, error: UNUSABLE_DATA + problem },
  );
  await applyPlanned(ctx, planned, { stage: true, mirror: batch.writes, audit: batch.audit, after });
}

/** The mirror of one batch: the store's rows, changed in memory as items arrive, and the writes that do it. */
class MirrorBatch {
  readonly writes: MirrorWrite[] = [];
  readonly audit: AuditDraft[] = [];
  /** Users to plan, in the order their facts arrived. */
  readonly toPlan = new Set<string>();
  /** Users whose latest data is unusable (a later usable fact in the batch removes them). */
  readonly unusable = new Map<string, string>();
  private readonly everyone: boolean;

  constructor(
    private readonly ctx: CycleContext,
    private readonly known: Map<string, KnownUser>,
    private readonly mode: IngestMode,
    private readonly generation: number,
    private readonly toRead?: Set<string>,
  ) {
    this.everyone = ctx.scope === 'all';
  }

  take(item: UserChange): void {
    if (item.kind === 'invalid') {
      if (item.id === null) this.audit.push(invalid(this.ctx, item));
      else this.takeUnusable({ ...item, id: item.id });
      return;
    }
    const user = this.known.get(item.id)!;
    const stale = user.unusableSince !== undefined;
    if (item.kind === 'upsert') {
      if (!this.everyone && this.mode === 'full' && !this.isRelevant(user)) return;
      if (!this.everyone && this.mode === 'changes' && !user.source) {
        if (this.isRelevant(user)) this.toRead?.add(item.id);
        return;
      }
      if (this.mode === 'changes' && (this.unusable.has(item.id) || stale)) {
        // Its mirror is stale: a `return=minimal` change alone is not the whole user. Read it in
        // full (unless it already failed in this cycle), so nothing unusable can pass.
        if (!this.unusable.has(item.id) && user.unusableSince !== this.ctx.cycleId) this.toRead?.add(item.id);
        return;
      }
      if (stale) this.writes.push({ op: 'usableAgain', entraId: item.id });
      this.upsert(user, item.attributes, this.mode === 'changes');
    } else if (item.reason === 'changed') {
      if (!user.source) return; // never seen: nothing to disable
      user.source = { ...user.source, softDeleted: true, generation: this.newer(user.source) };
      this.writes.push({ op: 'softDelete', entraId: item.id, generation: this.generation });
    } else {
      if (!user.source && !user.linked) return; // never seen and never provisioned (an initial round)
      user.source = user.source
        ? { ...user.source, hardDeleted: true }
        : {
            entraId: item.id,
            attributes: {},
            softDeleted: false,
            hardDeleted: true,
            released: false,
            generation: 0,
          };
      this.writes.push({ op: 'hardDelete', entraId: item.id });
    }
    if (item.kind === 'removed' && stale) this.writes.push({ op: 'usableAgain', entraId: item.id }); // removal supersedes
    this.toPlan.add(item.id);
    this.unusable.delete(item.id); // a later, usable fact about the user in the same batch
  }

  /** Whether a user matters to this application: in scope, or linked (until released). */
  private isRelevant(user: KnownUser): boolean {
    return this.everyone || user.scope !== null || user.linked !== null;
  }

  private newer(source: MirroredUser): number {
    return Math.max(source.generation, this.generation);
  }

  /** `merge`: absent properties keep their value (return=minimal); otherwise the object replaces them. */
  private upsert(user: KnownUser, attributes: Record<string, AttributeValue>, merge: boolean): void {
    const previous = user.source;
    const merged = merge && previous ? { ...previous.attributes, ...attributes } : attributes;
    user.source = {
      entraId: user.entraId,
      attributes: merged,
      softDeleted: false,
      hardDeleted: false,
      released: previous?.released ?? false,
      generation: previous ? this.newer(previous) : this.generation,
    };
    this.writes.push({
      op: 'upsert',
      entraId: user.entraId,
      attributes: merged,
      generation: this.generation,
    });
  }

  /**
   * A user whose Graph data is unusable is a failed user, never a failed round: audited, escrowed
   * and retried (read again in full). The mirror keeps its last usable attributes, and the decisive
   * facts are applied all the same: `accountEnabled: false`, and being out of scope or soft-deleted
   * (keeping a disabled person active is the worse failure).
   */
  private takeUnusable(item: { id: string; problem: string; disabled?: true }): void {
    const user = this.known.get(item.id)!;
    if (!this.everyone) {
      if (this.mode !== 'read' && !this.isRelevant(user)) return;
      if (this.mode === 'changes' && !user.source) {
        this.toRead?.add(item.id); // never mirrored: its change alone is not the whole user; the read decides
        return;
      }
    }
    if (this.mode === 'changes' && user.unusableSince === this.ctx.cycleId) return;
    this.audit.push(invalid(this.ctx, item));
    if (user.source) {
      const attributes = item.disabled
        ? { ...user.source.attributes, accountEnabled: false }
        : user.source.attributes;
      user.source = { ...user.source, attributes, generation: this.newer(user.source) };
    }
    this.writes.push({
      op: 'keepUnusable',
      entraId: item.id,
      generation: this.generation,
      disabled: item.disabled === true,
    });
    this.unusable.set(item.id, item.problem);
    const decisive =
      item.disabled === true || (!this.everyone && user.scope === null) || user.source?.softDeleted === true;
    if (decisive) this.toPlan.add(item.id);
  }
}

/**
 * The store resolved each user's manager as the mirror named it before this batch. A user whose
 * manager this batch names differently (a change, a user seen for the first time) gets it resolved
 * here: from the batch's own facts, or in one more look-up for the batch's other managers.
 */
async function resolveChangedManagers(
  ctx: CycleContext,
  known: Map<string, KnownUser>,
  ids: Iterable<string>,
): Promise<void> {
  if (!ctx.mappings.usesManager) return;
  const changed = new Map<string, string>();
  for (const id of ids) {
    const user = known.get(id)!;
    const managerId = user.source?.attributes.manager;
    if (typeof managerId !== 'string') delete user.manager;
    else if (user.manager?.entraId !== managerId) changed.set(id, managerId);
  }
  if (changed.size === 0) return;
  const unknown = [...new Set(changed.values())].filter((m) => !known.has(m));
  const managers = unknown.length > 0 ? await ctx.store.knownUsers(unknown, { appRoles: false }) : known;
  for (const [id, managerId] of changed) {
    const row = (known.get(managerId) ?? managers.get(managerId))?.linked ?? null;
    known.get(id)!.manager = { entraId: managerId, rowId: row?.id ?? null };
  }
}

function invalid(ctx: CycleContext, item: { id: string | null; problem: string }): AuditDraft {
  return sourceError(ctx, item.id, UNUSABLE_DATA + item.problem, {
    problem: item.problem,
    message: 'user item from Graph rejected',
  });
}
