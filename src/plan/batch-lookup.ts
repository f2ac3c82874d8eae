import type { PlannedAction, StoreLookup, StoreUser, UserNameOwner } from './types.js';
import { foldUserName } from './user-name.js';
import { readScimValue } from '../mapping/index.js';

/**
 * The store as it will be once the actions planned so far in a batch are applied. A batch is
 * planned in full before any of it is written, so without this two Entra users whose matching
 * value differs only in case would both be planned to link the same unlinked row, and two users
 * would both be planned to create one userName. Pure: it only remembers what it is told.
 */
export class BatchLookup implements StoreLookup {
  /** Row id → the Entra user a link planned in this batch gives it. */
  private readonly linkedRows = new Map<string, string>();
  /** Folded userName → who holds it after this batch's creates, links and updates. */
  private readonly names = new Map<string, UserNameOwner>();

  constructor(private readonly store: StoreLookup) {}

  /** Remembers what a planned action will write. */
  record(action: PlannedAction): void {
    if (action.kind === 'link') this.linkedRows.set(action.row.id, action.entraId);
    if (action.kind === 'skip' || action.kind === 'error' || action.kind === 'delete') return;
    const userName = readScimValue(action.resource, 'userName');
    if (typeof userName !== 'string') return;
    const row = action.kind === 'create' ? null : action.row;
    this.names.set(foldUserName(userName), {
      id: row?.id ?? null,
      externalId: action.entraId,
      userName,
      linkable: row?.linkable ?? null,
    });
  }

  /** Rows linked earlier in the batch come back with the Entra id they will hold. */
  unlinkedBy(target: string, value: string): StoreUser[] {
    return this.store.unlinkedBy(target, value).map((row) => {
      const entraId = this.linkedRows.get(row.id);
      return entraId ? { ...row, externalId: entraId } : row;
    });
  }

  byUserName(userName: string): UserNameOwner | null {
    const planned = this.names.get(foldUserName(userName));
    if (planned) return planned;
    const row = this.store.byUserName(userName);
    if (!row || row.id === null) return row;
    const entraId = this.linkedRows.get(row.id);
    return entraId ? { ...row, externalId: entraId } : row;
  }
}
