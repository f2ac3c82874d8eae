// The bare baseline of `npm run bench`: the least work any tool could do with the same Graph
// pages. One client-credentials token, then plain `fetch` of one users/delta round (following
// nextLinks to the deltaLink), and one prepared INSERT per item, all in one transaction.
// Plain JavaScript run with plain `node` so that it pays no loader cost entrasync does not pay.
//
// env: BASE_URL, TENANT_ID, CLIENT_ID, CLIENT_SECRET, NODE_EXTRA_CA_CERTS (the emulator's CA)
// argv: <db file> <first url (path or absolute)> [minimal]
// stdout: one JSON line {pages, items, requests}
/* global fetch, URLSearchParams */
import Database from 'better-sqlite3';

const [dbFile, first, minimal] = process.argv.slice(2);
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

const db = new Database(dbFile);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL) WITHOUT ROWID');
const insert = db.prepare('INSERT OR REPLACE INTO users (id, data) VALUES (?, ?)');

const headers = { Authorization: `Bearer ${token}` };
if (minimal === 'minimal') headers.Prefer = 'return=minimal';
let url = first.startsWith('https://') ? first : `${base}/v1.0${first}`;
let pages = 0;
let items = 0;
db.exec('BEGIN');
while (url) {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const page = await response.json();
  pages++;
  for (const item of page.value) {
    insert.run(item.id, JSON.stringify(item));
    items++;
  }
  url = page['@odata.nextLink'];
}
db.exec('COMMIT');
db.close();
process.stdout.write(`${JSON.stringify({ pages, items, requests: pages + 1 })}\n`);
