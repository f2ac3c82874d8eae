import type { SourceUser } from '../plan/types.js';
import type { AttributeValue } from '../source/types.js';
import type { Db } from './db.js';
import { prepared } from './statements.js';

/** What Graph last said about one user. */
export interface MirroredUser extends SourceUser {
  entraId: string;
  attributes: Record<string, AttributeValue>;
  softDeleted: boolean;
  /** `@removed: deleted` arrived; the row stays until the delete is applied or skipped. */
  hardDeleted: boolean;
  released: boolean;
  generation: number;
}

interface SourceRow {
  entra_id: string;
  attributes: string;
  soft_deleted: number;
  hard_deleted: number;
  released: number;
  generation: number;
}

export const mirroredUserOf = (row: SourceRow): MirroredUser => ({
  entraId: row.entra_id,
  attributes: JSON.parse(row.attributes) as Record<string, AttributeValue>,
  softDeleted: row.soft_deleted === 1,
  hardDeleted: row.hard_deleted === 1,
  released: row.released === 1,
  generation: row.generation,
});

/**
 * The mirror of Graph's users (`source_users`): the selected attributes as last read, soft- and
 * hard-deleted marks, and whether the user was released after leaving scope. `return=minimal` sends
 * only what changed, so the whole user must be kept here.
 */
export class SourceUsers {
  constructor(private readonly db: Db) {}

  get(entraId: string): MirroredUser | null {
    const row = prepared<[string], SourceRow>(this.db, 'SELECT * FROM source_users WHERE entra_id = ?').get(
      entraId,
    );
    return row ? mirroredUserOf(row) : null;
  }

  /** Writes the user's whole attribute set (a merge of return=minimal is done by the caller). */
  upsert(entraId: string, attributes: Record<string, AttributeValue>, generation: number): void {
    prepared(
      this.db,
      `INSERT INTO source_users (entra_id, attributes, soft_deleted, generation) VALUES (@id, @attributes, 0, @generation)
       ON CONFLICT (entra_id) DO UPDATE SET attributes = excluded.attributes, soft_deleted = 0, hard_deleted = 0,
       generation = max(source_users.generation, excluded.generation)`,
    ).run({ id: entraId, attributes: JSON.stringify(attributes), generation });
  }

  softDelete(entraId: string, generation: number): void {
    prepared(
      this.db,
      'UPDATE source_users SET soft_deleted = 1, generation = max(generation, ?) WHERE entra_id = ?',
    ).run(generation, entraId);
  }

  /** `@removed: deleted`: marks the row, or leaves a tombstone for a linked user never mirrored. */
  markHardDeleted(entraId: string): void {
    prepared(
      this.db,
      `INSERT INTO source_users (entra_id, attributes, hard_deleted) VALUES (?, '{}', 1)
       ON CONFLICT (entra_id) DO UPDATE SET hard_deleted = 1`,
    ).run(entraId);
  }

  /**
   * A user whose latest Graph data is unusable: its mirror keeps the last usable attributes (and
   * counts as listed in this round); only `accountEnabled: false`, a decisive fact, is taken.
   */
  keepUnusable(entraId: string, generation: number, disabled: boolean): void {
    prepared(
      this.db,
      `UPDATE source_users SET generation = max(generation, @generation),
         attributes = CASE WHEN @disabled THEN json_set(attributes, '$.accountEnabled', json('false')) ELSE attributes END
         WHERE entra_id = @id`,
    ).run({ id: entraId, generation, disabled: disabled ? 1 : 0 });
  }

  /** Back in scope (released false), the group it last left says nothing any more. */
  setReleased(entraId: string, released: boolean): void {
    prepared(
      this.db,
      `UPDATE source_users SET released = ?, left_group = CASE WHEN ? THEN left_group END WHERE entra_id = ?`,
    ).run(released ? 1 : 0, released ? 1 : 0, entraId);
  }

  /** A user deleted for good: its mirror row and its memberships go. */
  forget(entraId: string): void {
    prepared(this.db, 'DELETE FROM source_users WHERE entra_id = ?').run(entraId);
    prepared(this.db, 'DELETE FROM entra_group_members WHERE member_id = ?').run(entraId);
  }

  /** Linked store rows whose Entra user the last full round did not list (or never listed). */
  unseenLinked(generation: number, afterId: string, limit: number): string[] {
    return prepared<[string, number, number], string>(
      this.db,
      `SELECT u.external_id AS id FROM users u LEFT JOIN source_users s ON s.entra_id = u.external_id
         WHERE u.external_id IS NOT NULL AND u.external_id > ? AND (s.entra_id IS NULL OR s.generation < ?)
         ORDER BY u.external_id LIMIT ?`,
    )
      .pluck()
      .all(afterId, generation, limit);
  }

  /** Mirror rows of users the full round did not list and that no store row links to. */
  forgetUnseenUnlinked(generation: number): number {
    return prepared(
      this.db,
      `DELETE FROM source_users WHERE generation < ?
         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.external_id = source_users.entra_id)`,
    ).run(generation).changes;
  }
}
