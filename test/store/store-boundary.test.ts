/**
 * Only src/store/ speaks SQL (issue 13): the transactions, the page cache, the lease holder and the
 * export's id listing are store operations, and safety/ does not import sync/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { ROOT, tempDir } from '../support/harness.js';

const SRC = join(ROOT, 'src');

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
const folderOf = (file: string) => relative(SRC, file).split(sep)[0]!;

const SQL = [
  /\bSELECT\b[\s\S]{0,200}?\bFROM\b/,
  /\bINSERT\s+(OR\s+\w+\s+)?INTO\b/,
  /\bUPDATE\s+\w+\s+SET\b/,
  /\bDELETE\s+FROM\b/,
  /['"`]\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/,
  /\bPRAGMA\b/i,
  /\.prepare\(/,
  /\bdb\.exec\(/,
  /\.pragma\(/,
  /\bdb\.inTransaction\b/,
];

describe('the store boundary in the source', () => {
  it('no SQL, transaction, pragma or prepare outside src/store/ (the emulator aside)', () => {
    const offenders = sourceFiles()
      .filter((f) => !['store', 'emulator'].includes(folderOf(f)))
      .flatMap((f) => {
        const text = readFileSync(f, 'utf8');
        return SQL.filter((re) => re.test(text)).map((re) => `${relative(SRC, f)}: ${re.source}`);
      });
    expect(offenders).toEqual([]);
  });

  it('src/safety/ imports nothing of src/sync/', () => {
    const imports = sourceFiles(join(SRC, 'safety')).flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/from\s+['"](\.{1,2}\/[^'"]+)['"]/g)]
        .map((m) => m[1]!)
        .filter((p) => p.includes('/sync/'))
        .map((p) => `${relative(SRC, f)} imports ${p}`),
    );
    expect(imports).toEqual([]);
  });
});

const open: { close(): void }[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

/** entrasync's store and an application's connection to the same file. */
function stores() {
  const path = join(tempDir('entrasync-boundary-'), 'store.db');
  const store = Store.open(path);
  const app = new Database(path);
  open.push(store, app);
  const appCount = () => (app.prepare('SELECT count(*) AS n FROM sync_state').get() as { n: number }).n;
  return { store, app, appCount };
}

describe('store operations that replace SQL outside the store', () => {
  it('a write span holds its writes until commit; rollback discards them', async () => {
    const { store, appCount } = stores();
    const before = appCount();
    let span = await store.writeSpan('test');
    expect(store.inTransaction).toBe(true);
    await store.state.set({ fingerprint: 'one' });
    expect(appCount()).toBe(before);
    await span.commit();
    expect(store.inTransaction).toBe(false);
    expect(appCount()).toBe(before + 1);

    span = await store.writeSpan('test');
    await store.state.set({ users_delta_link: 'two' });
    await span.rollback();
    expect(store.inTransaction).toBe(false);
    expect(await store.state.get('users_delta_link')).toBeNull();
    await span.rollback(); // nothing open: nothing to do
  });

  it('a write span waits for the application to release its lock', async () => {
    const { store, app } = stores();
    app.exec('BEGIN IMMEDIATE');
    app.exec('UPDATE sync_state SET value = value');
    setTimeout(() => app.exec('COMMIT'), 300);
    const span = await store.writeSpan('test');
    await store.state.set({ fingerprint: 'after the wait' });
    await span.commit();
    expect(store.tables.state.get('fingerprint')).toBe('after the wait');
  });

  it('a dry run rolls back every write made inside it, savepoints included', async () => {
    const { store, appCount } = stores();
    const before = appCount();
    await store.dryRun(async () => {
      await store.write(() => store.state.set({ fingerprint: 'dry' }), 'test');
      store.transactionNow(() => store.tables.state.set('users_delta_link', 'dry'));
      // A write that fails inside the dry run undoes its own part only.
      await expect(
        store.write(async () => {
          await store.state.set({ groups_delta_link: 'undone' });
          throw new Error('rejected');
        }, 'test'),
      ).rejects.toThrow('rejected');
      expect(await store.state.get('groups_delta_link')).toBeNull();
      expect(await store.state.get('fingerprint')).toBe('dry');
    });
    expect(store.inTransaction).toBe(false);
    expect(await store.state.get('fingerprint')).toBeNull();
    expect(await store.state.get('users_delta_link')).toBeNull();
    expect(appCount()).toBe(before);
    await store.abandonOpenWrite(); // ended already: nothing to do
  });

  it('leaseHolder: the live holder of the cycle lease, null when free or expired', async () => {
    const { store } = stores();
    expect(await store.leaseHolder()).toBeNull();
    const lease = store.cycleLease('host pid 1 test', 60_000);
    expect(await lease.tryAcquire()).toBeNull();
    const holder = await store.leaseHolder();
    expect(holder?.owner).toBe('host pid 1 test');
    expect(holder!.expiresAt).toBeGreaterThan(Date.now());
    expect(await store.leaseHolder(holder!.expiresAt)).toBeNull();
    expect(await lease.holder()).toEqual(holder);
    await lease.release();
    expect(await store.leaseHolder()).toBeNull();
  });

  it('users.idsByUserName: every id in userName order, again after a listing left early', () => {
    const { store, app } = stores();
    const insert = app.prepare('INSERT INTO users (id, user_name) VALUES (?, ?)');
    insert.run('c', 'bob@contoso.com');
    insert.run('a', 'Carol@contoso.com');
    insert.run('b', 'alice@contoso.com');
    for (const id of store.tables.users.idsByUserName()) {
      expect(id).toBe('b');
      break;
    }
    expect([...store.tables.users.idsByUserName()]).toEqual(['b', 'c', 'a']);
    expect([...store.tables.users.idsByUserName()].map((id) => store.tables.users.get(id)?.userName)).toEqual(
      ['alice@contoso.com', 'bob@contoso.com', 'Carol@contoso.com'],
    );
  });
});
