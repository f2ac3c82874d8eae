/**
 * How a user (or a group) an operator names (`audit --user`, `retry --user`) is found, the same on both stores:
 * by its Entra object id, its local id, or a userName it has or had. Former names are found through
 * the audit rows, which keep the userName each change was made under. `t` prefixes table names
 * (the PostgreSQL schema), `p` is the parameter, `same(column)` compares a column with it as the
 * store compares userNames (ASCII case-insensitive).
 */
type Same = (column: string) => string;

/** The Entra ids the name stands for, as a subquery. */
const entraIdsNamed = (t: string, p: string, same: Same) =>
  `SELECT entra_id FROM ${t}audit WHERE entra_id IS NOT NULL AND (entra_id = ${p} OR user_id = ${p} OR ${same('user_name')})
   UNION SELECT external_id FROM ${t}users WHERE external_id IS NOT NULL AND (id = ${p} OR ${same('user_name')})`;

/** Audit rows: the whole history of the Entra users named; rows about no Entra user by userName. */
export const userHistory = (t: string, p: string, same: Same) =>
  `(entra_id = ${p} OR entra_id IN (${entraIdsNamed(t, p, same)}) OR (entra_id IS NULL AND ${same('user_name')}))`;

/** A row keyed by `entra_id` (pending_users) that belongs to the user named. */
export const namedUser = (t: string, p: string, same: Same) =>
  `(entra_id = ${p} OR entra_id IN (${entraIdsNamed(t, p, same)}))`;

/**
 * A row keyed by `entra_id` (pending_groups) that belongs to the group named (`retry --group`): by
 * its Entra id, the display name Graph gives it, or its local group's id or display name.
 */
export const namedGroup = (t: string, p: string, same: Same) =>
  `(entra_id = ${p}
    OR entra_id IN (SELECT entra_id FROM ${t}source_groups WHERE ${same('display_name')})
    OR entra_id IN (SELECT external_id FROM ${t}groups WHERE id = ${p} OR ${same('display_name')}))`;

/** A failing user's userName (`p` its pending row, `u` its users row): its row's, else the last audited. */
export const failingUserName = (t: string) =>
  `coalesce(u.user_name, (SELECT a.user_name FROM ${t}audit a WHERE a.entra_id = p.entra_id
     AND a.user_name IS NOT NULL ORDER BY a.seq DESC LIMIT 1))`;
