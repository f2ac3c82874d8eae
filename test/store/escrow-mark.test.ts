/** A user escrowed for unusable Graph data stays marked when another failure of theirs is recorded. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { UNUSABLE_DATA } from '../../src/store/index.js';
import { tempDir } from '../support/harness.js';

const spacing = { baseSeconds: 60, maxSeconds: 3600 };
const ID = '11111111-1111-1111-1111-111111111111';

describe('the unusable-data escrow mark', () => {
  it('survives a later failure of another kind, and a later unusable failure replaces it', () => {
    const store = Store.open(join(tempDir(), 'store.db'));
    store.tables.pending.fail(
      ID,
      'cycle-1',
      `${UNUSABLE_DATA}displayName contains control characters`,
      spacing,
    );
    expect([...store.tables.pending.unusableUsers().keys()]).toEqual([ID]);

    // The staged disable of that user is then rejected by the store, say.
    store.tables.pending.fail(ID, 'cycle-2', 'the store rejected the change: SQLITE_CONSTRAINT', spacing);
    expect([...store.tables.pending.unusableUsers().keys()]).toEqual([ID]);
    const failing = store.tables.pending.failing(10).find((u) => u.entraId === ID)!;
    expect(failing).toMatchObject({
      failures: 2,
      lastError: expect.stringMatching(/^unusable data from Graph: /),
    });

    store.tables.pending.fail(ID, 'cycle-3', `${UNUSABLE_DATA}displayName is 4097 characters long`, spacing);
    expect(store.tables.pending.failing(10)[0]!.lastError).toMatch(/4097 characters/);
    store.close();
  });
});
