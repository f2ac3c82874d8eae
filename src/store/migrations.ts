/**
 * Versioned schema. `users` is the interface the application reads (README, "Reading the store"):
 * its columns only ever grow, and every column but user_name has a default so the application can
 * insert its own local users. The other tables are entrasync's own bookkeeping.
 */
export const MIGRATIONS: string[] = [
  // 1: the user store, the mirror of Graph, delta state, cycles, audit, the cycle lease.
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
    external_id TEXT UNIQUE,
    user_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT,
    email TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    scim TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE INDEX users_email ON users (email COLLATE NOCASE);

  -- What Graph last told us about each user: the selected attributes, soft-deleted or not.
  -- released = 1 after the user was disabled for leaving scope: Entra no longer manages such a user.
  CREATE TABLE source_users (
    entra_id TEXT PRIMARY KEY NOT NULL,
    attributes TEXT NOT NULL,
    soft_deleted INTEGER NOT NULL DEFAULT 0,
    released INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  CREATE TABLE group_members (
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, member_id)
  ) WITHOUT ROWID;
  CREATE INDEX group_members_member ON group_members (member_id);

  CREATE TABLE assignments (principal_id TEXT PRIMARY KEY NOT NULL, principal_type TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE assignments_listing (principal_id TEXT PRIMARY KEY NOT NULL, principal_type TEXT NOT NULL) WITHOUT ROWID;
  -- Groups whose direct members are in scope (the assigned ones, plus nested ones when expanded).
  CREATE TABLE scope_groups (group_id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;

  -- Users whose facts changed and who still need a plan; durable, so a crash loses none.
  -- failed_cycle: the cycle in which planning or applying this user last failed; it is retried in
  -- the next cycle, not again in the same one.
  CREATE TABLE pending_users (entra_id TEXT PRIMARY KEY NOT NULL, failed_cycle TEXT) WITHOUT ROWID;

  CREATE TABLE sync_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;

  CREATE TABLE cycles (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    graph_requests INTEGER NOT NULL DEFAULT 0,
    error TEXT
  );
  CREATE INDEX cycles_started ON cycles (started_at);

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id TEXT NOT NULL,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    entra_id TEXT,
    user_id TEXT,
    user_name TEXT,
    modified TEXT NOT NULL DEFAULT '[]',
    reason TEXT
  );
  CREATE INDEX audit_cycle ON audit (cycle_id);
  CREATE INDEX audit_user ON audit (user_name COLLATE NOCASE);
  CREATE INDEX audit_entra ON audit (entra_id);

  CREATE TABLE locks (name TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
  `,
  // 2: deletion safety and failed users (escrow).
  `
  -- Hard-deleted in Entra but not yet deleted here (the delete may be held by the threshold).
  ALTER TABLE source_users ADD COLUMN hard_deleted INTEGER NOT NULL DEFAULT 0;

  -- Failed users stay pending with growing spacing between retries.
  ALTER TABLE pending_users ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE pending_users ADD COLUMN last_error TEXT;
  ALTER TABLE pending_users ADD COLUMN retry_after TEXT;

  -- Disables and deletes planned in a cycle, applied at its end unless they exceed the threshold;
  -- then they are held here until approved, rejected, or no longer planned.
  CREATE TABLE staged_changes (
    entra_id TEXT PRIMARY KEY NOT NULL,
    cycle_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_name TEXT,
    staged_at TEXT NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  `,
  // 3: app roles. A principal may hold several roles of the application; the mappings'
  // AppRoleAssignmentsComplex / SingleAppRoleAssignment read them.
  `
  CREATE TABLE assignments_v3 (
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    app_role_id TEXT NOT NULL,
    PRIMARY KEY (principal_id, app_role_id)
  ) WITHOUT ROWID;
  INSERT INTO assignments_v3 SELECT principal_id, principal_type, '00000000-0000-0000-0000-000000000000' FROM assignments;
  DROP TABLE assignments;
  ALTER TABLE assignments_v3 RENAME TO assignments;
  DROP TABLE assignments_listing;
  CREATE TABLE assignments_listing (
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    app_role_id TEXT NOT NULL,
    PRIMARY KEY (principal_id, app_role_id)
  ) WITHOUT ROWID;
  CREATE TABLE app_roles (id TEXT PRIMARY KEY NOT NULL, value TEXT, display_name TEXT) WITHOUT ROWID;
  `,
  // 4: the application's say on linking its own rows (README, "Matching and linking"): 0 never
  // linked to an Entra user, 1 may be, NULL follows matching.linkOnlyWhere.
  `
  ALTER TABLE users ADD COLUMN linkable INTEGER CHECK (linkable IN (0, 1));
  `,
  // 5: a failed cycle's failure class (persistent or transient), for quarantine and status.
  `
  ALTER TABLE cycles ADD COLUMN failure_class TEXT;
  `,
  // 6: provisioning logs (README, "Reading the audit"): every audit row's reason as a code; the
  // group a user last left while it gave scope, for the reason of its disable; the audit by local id.
  `
  ALTER TABLE audit ADD COLUMN reason_code TEXT;
  CREATE INDEX audit_user_id ON audit (user_id);
  ALTER TABLE source_users ADD COLUMN left_group TEXT;
  `,
  // 7: groups (README, "Reading the store"). The mirror of Entra memberships becomes
  // entra_group_members; `groups` and `group_members` are the application's tables, maintained for
  // the Entra groups in scope. source_groups mirrors groups/delta; pending_groups marks the groups to
  // plan again (plan) or whose memberships to recompute (members), durably.
  `
  ALTER TABLE group_members RENAME TO entra_group_members;
  DROP INDEX group_members_member;
  CREATE INDEX entra_group_members_member ON entra_group_members (member_id);

  CREATE TABLE source_groups (
    entra_id TEXT PRIMARY KEY NOT NULL,
    display_name TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    removed INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    in_scope INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE TABLE pending_groups (
    entra_id TEXT PRIMARY KEY NOT NULL,
    plan INTEGER NOT NULL DEFAULT 0,
    members INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
    external_id TEXT UNIQUE,
    display_name TEXT NOT NULL,
    scim TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE INDEX groups_display_name ON groups (display_name COLLATE NOCASE);
  CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX group_members_user ON group_members (user_id);

  ALTER TABLE audit ADD COLUMN object_type TEXT NOT NULL DEFAULT 'user';
  ALTER TABLE audit ADD COLUMN group_id TEXT;
  ALTER TABLE audit ADD COLUMN group_name TEXT;
  CREATE INDEX audit_group_id ON audit (group_id);
  `,
  // 8: the manager's Entra id each user's mirror names (the enterprise
  // manager mapping), indexed: a manager's row created, linked or deleted makes its reports pending.
  // No backfill: before it, a mirror never held a manager.
  `
  ALTER TABLE source_users ADD COLUMN manager_id TEXT;
  CREATE INDEX source_users_manager ON source_users (manager_id) WHERE manager_id IS NOT NULL;
  `,
  // 9: a group whose change failed is retried with growing spacing, as a failing user is
  // (pending_users' columns of the same names); new facts about it clear retry_after.
  `
  ALTER TABLE pending_groups ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE pending_groups ADD COLUMN last_error TEXT;
  ALTER TABLE pending_groups ADD COLUMN retry_after TEXT;
  `,
];
