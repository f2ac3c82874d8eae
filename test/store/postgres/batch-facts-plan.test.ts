/**
 * A batch's facts on PostgreSQL are read by index, key by key. The planner, left to choose, read
 * them by scanning and hashing whole tables (source_users, pending_users, and assignments as a
 * hashed EXISTS) once per batch: an initial sync of 100,000 users read about 200 × 100,000 rows.
 * The plan is checked, not the time: the plan is what makes the cost grow with the tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNUSABLE_DATA, type UserStore } from '../../../src/store/index.js';
import { openUserStore } from '../../../src/store/open.js';
import { knownUsersSql } from '../../../src/store/postgres/batch.js';
import { adminQuery, freshDatabase } from '../../support/postgres.js';

const USERS = 20_000;
const BATCH = 500;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan (EXPLAIN FORMAT JSON), depth first. */
function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

describe('the facts of a batch on PostgreSQL', () => {
  let database: string;
  let store: UserStore;

  beforeAll(async () => {
    const url = await freshDatabase('batch_facts_plan');
    database = decodeURIComponent(new URL(url).pathname.slice(1));
    store = await openUserStore(url, { env: {} });
    // A tenant mid-way through its initial sync: every user mirrored, assigned, written, some pending.
    const sql = (text: string) => adminQuery(text, [], database);
    await sql(`INSERT INTO entrasync.source_users (entra_id, attributes)
               SELECT 'user-' || g, '{}' FROM generate_series(1, ${USERS}) g`);
    await sql(`INSERT INTO entrasync.assignments (principal_id, principal_type, app_role_id)
               SELECT 'user-' || g, 'User', 'role' FROM generate_series(1, ${USERS}) g`);
    await sql(`INSERT INTO entrasync.users (external_id, user_name)
               SELECT 'user-' || g, 'user' || g || '@example.com' FROM generate_series(1, ${USERS}) g`);
    await sql(`INSERT INTO entrasync.pending_users (entra_id)
               SELECT 'user-' || g FROM generate_series(1, ${USERS}, 10) g`);
    await sql('ANALYZE');
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  it('reads no table whole: every look-up is an index scan per key', async () => {
    const ids = Array.from({ length: BATCH }, (_, k) => `user-${k * 37 + 1}`);
    const [row] = await adminQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
      `EXPLAIN (FORMAT JSON) ${knownUsersSql('entrasync')}`,
      [ids, UNUSABLE_DATA],
      database,
    );
    const nodes = nodesOf(row!['QUERY PLAN'][0]!.Plan);
    const wholeTableScans = nodes
      .filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'])
      .map((n) => n['Relation Name']);
    // entra_group_members and scope_groups are empty here: a scan of nothing is what the planner should do.
    expect(wholeTableScans.filter((t) => t !== 'entra_group_members' && t !== 'scope_groups')).toEqual([]);
    expect(nodes.filter((n) => n['Node Type'] === 'Hash').length).toBe(0);
  });

  it('answers the same facts as before: known, assigned, linked, pending', async () => {
    const known = await store.knownUsers(['user-1', 'user-2', 'nobody'], { appRoles: false });
    expect(known.get('user-1')?.scope).toBe('assignment');
    expect(known.get('user-1')?.linked?.userName).toBe('user1@example.com');
    expect(known.get('user-2')?.source).not.toBeNull();
    expect(known.get('nobody')).toEqual({ entraId: 'nobody', source: null, scope: null, linked: null });
  });
});
