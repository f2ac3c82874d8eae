import type { KnownUser } from './interface.js';
import type { Db } from './db.js';
import { PendingQueue } from './pending.js';
import { Scope } from './scope.js';
import { mirroredUserOf } from './source-users.js';
import { prepared } from './statements.js';
import { toStoreUser, type UserRow } from './users.js';

/** One user's facts as one row: its users row (u.*), scope and mirror row (s_*). */
export type FactsRow = UserRow & {
  entra_key: string;
  via: number;
  s_entra_id: string | null;
  s_attributes: string;
  s_soft_deleted: number;
  s_hard_deleted: number;
  s_released: number;
  s_generation: number;
  s_left_group: string | null;
};

/** One statement for the whole batch: scope, the mirror row and the linked row of each id. */
const FACTS_SQL = `
  SELECT k.value AS entra_key,
    CASE
      WHEN EXISTS (SELECT 1 FROM assignments WHERE principal_id = k.value AND principal_type = 'User') THEN 1
      WHEN EXISTS (SELECT 1 FROM entra_group_members gm JOIN scope_groups sg ON sg.group_id = gm.group_id
                   WHERE gm.member_id = k.value AND gm.member_type = 'user') THEN 2
      ELSE 0 END AS via,
    s.entra_id AS s_entra_id, s.attributes AS s_attributes, s.soft_deleted AS s_soft_deleted,
    s.hard_deleted AS s_hard_deleted, s.released AS s_released, s.generation AS s_generation,
    s.left_group AS s_left_group,
    u.*
  FROM json_each(?) k
  LEFT JOIN source_users s ON s.entra_id = k.value
  LEFT JOIN users u ON u.external_id = k.value`;

/** Everything stored about a batch of Entra users (SQLite). */
export function loadKnownUsers(db: Db, ids: readonly string[], appRoles: boolean): Map<string, KnownUser> {
  const unusable = new PendingQueue(db).unusableUsers();
  const scope = appRoles ? new Scope(db) : null;
  const known = new Map<string, KnownUser>();
  for (const row of prepared<[string], FactsRow>(db, FACTS_SQL).all(JSON.stringify([...new Set(ids)]))) {
    const user = knownUserOf(row);
    const entraId = user.entraId;
    if (scope) user.appRoles = scope.appRolesOf(entraId);
    if (unusable.has(entraId)) user.unusableSince = unusable.get(entraId)!;
    known.set(entraId, user);
  }
  return known;
}

export function knownUserOf(row: FactsRow): KnownUser {
  return {
    entraId: row.entra_key,
    source:
      row.s_entra_id === null
        ? null
        : mirroredUserOf({
            entra_id: row.entra_key,
            attributes: row.s_attributes,
            soft_deleted: row.s_soft_deleted,
            hard_deleted: row.s_hard_deleted,
            released: row.s_released,
            generation: row.s_generation,
          }),
    scope: row.via === 1 ? 'assignment' : row.via === 2 ? 'group' : null,
    linked: row.id === null ? null : toStoreUser(row),
    ...(row.s_left_group ? { leftGroup: row.s_left_group } : {}),
  };
}
