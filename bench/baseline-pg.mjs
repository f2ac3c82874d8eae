// The bare PostgreSQL baseline of `npm run bench -- --store postgres`: the least work any tool could
// do with the same Graph pages into PostgreSQL. One client-credentials token, plain `fetch` of one
// users/delta round (as baseline.mjs), and per page ONE multi-row INSERT (unnest of column arrays),
// all in one transaction, into a table with the columns and unique indexes of entrasync's `users`
// (src/store/postgres/schema.ts: id primary key, external_id unique, user_name unique ASCII-folded).
// Plain JavaScript run with plain `node` so that it pays no loader cost entrasync does not pay.
//
// env: BASE_URL, TENANT_ID, CLIENT_ID, CLIENT_SECRET, NODE_EXTRA_CA_CERTS (the emulator's CA)
// argv: <postgres:// URL of an empty database> <first url (path or absolute)> [minimal]
// stdout: one JSON line {pages, items, requests}
/* global fetch, URLSearchParams */
import pg from 'pg';

const [dbUrl, first, minimal] = process.argv.slice(2);
const base = process.env.BASE_URL;

const form = new URLSearchParams({
  client_id: process.env.CLIENT_ID,
  client_secret: process.env.CLIENT_SECRET,
  scope: 'https://graph.microsoft.com/.default',
  grant_type: 'client_credentials',
});
const tokenResponse = await fetch(`${base}/${process.env.TENANT_ID}/oauth2/v2.0/token`, {
  method: 'POST',
  body: form,
});
if (!tokenResponse.ok) throw new Error(`token: HTTP ${tokenResponse.status}`);
const { access_token: token } = await tokenResponse.json();

// SQLite's NOCASE, as entrasync's PostgreSQL schema folds user names: the 26 ASCII letters only.
const nocase = (column) => `translate(${column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`;
const now = `to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const db = new pg.Client({ connectionString: dbUrl });
await db.connect();
await db.query(`
  CREATE TABLE users (
    id text PRIMARY KEY NOT NULL,
    external_id text UNIQUE,
    user_name text NOT NULL,
    display_name text,
    email text,
    active integer NOT NULL DEFAULT 1,
    scim text NOT NULL DEFAULT '{}',
    created_at text NOT NULL DEFAULT ${now},
    updated_at text NOT NULL DEFAULT ${now}
  );
  CREATE UNIQUE INDEX users_user_name ON users (${nocase('user_name')});`);
// As baseline.mjs's INSERT OR REPLACE: a user seen again (a later delta page) replaces its row.
const insert = `
  INSERT INTO users (id, external_id, user_name, display_name, email, active, scim)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::text[])
  ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, display_name = excluded.display_name,
    email = excluded.email, active = excluded.active, scim = excluded.scim, updated_at = ${now}`;

const headers = { Authorization: `Bearer ${token}` };
if (minimal === 'minimal') headers.Prefer = 'return=minimal';
let url = first.startsWith('https://') ? first : `${base}/v1.0${first}`;
let pages = 0;
let items = 0;
await db.query('BEGIN');
while (url) {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const page = await response.json();
  pages++;
  const columns = [[], [], [], [], [], [], []];
  for (const item of page.value) {
    // A removed user (delta's @removed) carries no name: its id stands in, the row is still written.
    const row = [
      item.id,
      item.id,
      item.userPrincipalName ?? item.id,
      item.displayName ?? null,
      item.mail ?? null,
      item.accountEnabled === false || item['@removed'] ? 0 : 1,
      JSON.stringify(item),
    ];
    row.forEach((value, k) => columns[k].push(value));
    items++;
  }
  if (page.value.length) await db.query(insert, columns);
  url = page['@odata.nextLink'];
}
await db.query('COMMIT');
await db.end();
process.stdout.write(`${JSON.stringify({ pages, items, requests: pages + 1 })}\n`);
