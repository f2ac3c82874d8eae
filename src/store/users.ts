import { randomUUID } from 'node:crypto';
import type { ScimUserResource } from '../mapping/index.js';
import { parseTargetPath, readPath } from '../mapping/scim-path.js';
import type { PlannedAction, StoreUser } from '../plan/types.js';
import { userNameOf } from '../plan/audit-entry.js';
import type { Db } from './db.js';
import { prepared } from './statements.js';

export type { StoreUser };

export interface UserRow {
  id: string;
  external_id: string | null;
  user_name: string;
  display_name: string | null;
  email: string | null;
  active: number;
  linkable?: number | null;
  scim: string;
  created_at: string;
  updated_at: string;
}

const WORK_EMAIL = 'emails[type eq "work"].value';

function readScimValue(resource: ScimUserResource, target: string) {
  return readPath(resource, parseTargetPath(target));
}

function parseScim(text: string): ScimUserResource {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as ScimUserResource)
      : {};
  } catch {
    return {};
  }
}

/** The application may write only the plain columns, so they win over the JSON copy. */
export function toStoreUser(row: UserRow): StoreUser {
  return withColumns(row, parseScim(row.scim));
}

/** A row just written from `resource` (its scim column): no need to parse the JSON back. */
function writtenUser(row: UserRow, resource: ScimUserResource): StoreUser {
  return withColumns(row, resource);
}

function withColumns(row: UserRow, scim: ScimUserResource): StoreUser {
  const resource: ScimUserResource = {
    ...scim,
    userName: row.user_name,
    active: row.active === 1,
  };
  if (row.display_name !== null) resource.displayName = row.display_name;
  else delete resource.displayName;
  if (row.email !== null && readScimValue(resource, WORK_EMAIL) === null) {
    const emails = Array.isArray(resource.emails) ? [...(resource.emails as unknown[])] : [];
    emails.push({ type: 'work', value: row.email, primary: true });
    resource.emails = emails;
  }
  return {
    id: row.id,
    externalId: row.external_id,
    userName: row.user_name,
    displayName: row.display_name,
    email: row.email,
    active: row.active === 1,
    linkable: row.linkable === undefined || row.linkable === null ? null : row.linkable !== 0,
    resource,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The plain columns the application reads, derived from the SCIM resource. */
export function columns(resource: ScimUserResource) {
  const email = readScimValue(resource, WORK_EMAIL) ?? firstEmail(resource);
  const displayName = readScimValue(resource, 'displayName');
  return {
    user_name: String(readScimValue(resource, 'userName') ?? ''),
    display_name: displayName === null ? null : String(displayName),
    email: email === null ? null : String(email),
    active: resource.active === false ? 0 : 1,
    scim: JSON.stringify(resource),
  };
}

function firstEmail(resource: ScimUserResource): string | null {
  const emails = resource.emails;
  if (!Array.isArray(emails)) return null;
  const primary = emails.find((e) => (e as { primary?: boolean }).primary) ?? emails[0];
  const value = (primary as { value?: unknown } | undefined)?.value;
  return typeof value === 'string' ? value : null;
}

const now = () => new Date().toISOString();

/**
 * Ids of the rows entrasync creates: UUID version 7 (RFC 9562), a millisecond timestamp then random
 * bits. Rows created together get neighbouring keys, so the primary-key index grows at its end
 * instead of at random places (a fresh random UUID per row touches a different index page each
 * time). Still opaque and unique: 74 random bits (RFC 9562's layout) per millisecond.
 */
export function newUserId(at = Date.now()): string {
  // randomUUID() draws from a cached entropy pool; its version nibble and timestamp bits are replaced.
  const random = randomUUID();
  const ms = at.toString(16).padStart(12, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}

/** A link the store refused: the row was linked meanwhile, or the application forbids it. */
export class LinkConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkConflictError';
  }
}

/** The error a planned action becomes when the store refuses its writes: that user fails, no other. */
export function rejectedAction(action: PlannedAction, error: unknown): PlannedAction {
  return {
    kind: 'error',
    entraId: action.entraId,
    row: 'row' in action ? action.row : null,
    code: error instanceof LinkConflictError ? 'link-conflict' : 'store-rejected',
    reason:
      error instanceof LinkConflictError
        ? `cannot link: ${error.message}`
        : `the store rejected the change: ${(error as Error).message}`,
    userName: userNameOf(action),
  };
}

export class UserTable {
  private readonly byExternal;
  private readonly byName;
  private readonly byId;
  private readonly unlinkedByName;
  private readonly unlinkedByEmail;
  private readonly unlinked;
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly linkStmt;
  private readonly deleteStmt;

  constructor(private readonly db: Db) {
    this.byExternal = db.prepare<[string], UserRow>('SELECT * FROM users WHERE external_id = ?');
    this.byName = db.prepare<[string], UserRow>('SELECT * FROM users WHERE user_name = ?');
    this.byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?');
    this.unlinkedByName = db.prepare<[string], UserRow>(
      'SELECT * FROM users WHERE external_id IS NULL AND user_name = ?',
    );
    this.unlinkedByEmail = db.prepare<[string], UserRow>(
      'SELECT * FROM users WHERE external_id IS NULL AND email = ? COLLATE NOCASE',
    );
    this.unlinked = db.prepare<[], UserRow>('SELECT * FROM users WHERE external_id IS NULL');
    this.insertStmt = db.prepare(
      `INSERT INTO users (id, external_id, user_name, display_name, email, active, scim, created_at, updated_at)
       VALUES (@id, @external_id, @user_name, @display_name, @email, @active, @scim, @at, @at)`,
    );
    this.updateStmt = db.prepare(
      `UPDATE users SET user_name = @user_name, display_name = @display_name,
       email = @email, active = @active, scim = @scim, updated_at = @at WHERE id = @id`,
    );
    // The only statement that sets external_id on an existing row: it links a row that is still
    // unlinked and that the application has not marked linkable = 0, or nothing.
    this.linkStmt = db.prepare(
      `UPDATE users SET external_id = @external_id, user_name = @user_name, display_name = @display_name,
       email = @email, active = @active, scim = @scim, updated_at = @at
       WHERE id = @id AND external_id IS NULL AND (linkable IS NULL OR linkable <> 0)`,
    );
    this.deleteStmt = db.prepare('DELETE FROM users WHERE id = ?');
  }

  findByExternalId(externalId: string): StoreUser | null {
    const row = this.byExternal.get(externalId);
    return row ? toStoreUser(row) : null;
  }

  findByUserName(userName: string): StoreUser | null {
    const row = this.byName.get(userName);
    return row ? toStoreUser(row) : null;
  }

  get(id: string): StoreUser | null {
    const row = this.byId.get(id);
    return row ? toStoreUser(row) : null;
  }

  /**
   * Rows not linked to Entra whose `target` equals `value`. userName compares case-insensitively
   * (the column's collation, as SCIM defines userName); the work email uses its indexed column; any
   * other target is compared on the (few) unlinked rows.
   */
  findUnlinkedBy(target: string, value: string): StoreUser[] {
    if (target === 'userName') return this.unlinkedByName.all(value).map(toStoreUser);
    if (target === WORK_EMAIL) return this.unlinkedByEmail.all(value).map(toStoreUser);
    return this.unlinked
      .all()
      .map(toStoreUser)
      .filter((u) => String(readScimValue(u.resource, target) ?? '') === value);
  }

  /** The row as written is returned without reading it back. */
  insert(externalId: string, resource: ScimUserResource): StoreUser {
    const at = now();
    const row = {
      id: newUserId(),
      external_id: externalId,
      ...columns(resource),
      created_at: at,
      updated_at: at,
    };
    this.insertStmt.run({ ...row, at });
    return writtenUser(row, resource);
  }

  /** Writes the resource; the row keeps its link (or its lack of one). */
  update(user: StoreUser, resource: ScimUserResource): StoreUser {
    const at = now();
    const row = {
      id: user.id,
      external_id: user.externalId,
      ...columns(resource),
      created_at: user.createdAt,
      updated_at: at,
    };
    this.updateStmt.run({ ...row, at });
    return { ...writtenUser(row, resource), linkable: user.linkable };
  }

  /**
   * Links a local row to an Entra user and writes the resource, only if the row is still unlinked
   * and linkable: a row is linked to at most one Entra user, whatever planned the link. Throws
   * LinkConflictError, naming what holds the row, when it is not.
   */
  link(user: StoreUser, resource: ScimUserResource, externalId: string): StoreUser {
    const at = now();
    const row = {
      id: user.id,
      external_id: externalId,
      ...columns(resource),
      created_at: user.createdAt,
      updated_at: at,
    };
    if (this.linkStmt.run({ ...row, at }).changes === 1)
      return { ...writtenUser(row, resource), linkable: user.linkable };
    const current = this.byId.get(user.id);
    const what = `local row ${user.id} (${current?.user_name ?? user.userName})`;
    if (!current) throw new LinkConflictError(`${what} no longer exists`);
    if (current.external_id !== null)
      throw new LinkConflictError(`${what} is already linked to ${current.external_id}`);
    throw new LinkConflictError(`${what} is not linkable (users.linkable = 0)`);
  }

  delete(id: string): void {
    this.deleteStmt.run(id);
  }

  counts(): { total: number; active: number; linked: number } {
    return prepared(
      this.db,
      `SELECT count(*) AS total, coalesce(sum(active), 0) AS active,
         count(external_id) AS linked FROM users`,
    ).get() as { total: number; active: number; linked: number };
  }

  /** Every row's id, in userName order, read as it is consumed (an export of the whole store). */
  *idsByUserName(): Generator<string> {
    const rows = prepared(this.db, 'SELECT id FROM users ORDER BY user_name').iterate() as Iterable<{
      id: string;
    }>;
    for (const { id } of rows) yield id;
  }
}
