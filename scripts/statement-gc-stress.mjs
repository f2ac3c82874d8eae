// Regression check for nodejs/node#65446, run inside the image by scripts/container-test.sh:
//   node statement-gc-stress.mjs <store path> [seconds]
// Node 24.19.0-24.21.x abort (SIGABRT) when the garbage collector finalizes a better-sqlite3 <= 12
// Statement from a native callback, where no V8 context is entered. This opens the product's own
// store, leaves tens of thousands of statements for the collector, and keeps loopback sockets busy
// while their `data` callbacks allocate, so collections run from inside those callbacks. A safe
// runtime prints one JSON line and exits 0; an affected one dies with SIGABRT before it.
import { Buffer } from 'node:buffer';
import { createServer, connect } from 'node:net';

const [, , storePath, secondsArg] = process.argv;
if (!storePath) {
  process.stderr.write('usage: node statement-gc-stress.mjs <store path> [seconds]\n');
  process.exit(2);
}
const seconds = Number(secondsArg ?? 6);
const app = process.env.ENTRASYNC_APP_DIR ?? '/app';
const { Store } = await import(`${app}/dist/store/index.js`);

const store = Store.open(storePath);
let prepared = 0;
/** Statements the product would prepare, dropped at once: garbage for the collector. */
function prepareAndDrop(count) {
  for (let i = 0; i < count; i++) {
    store.db
      .prepare(`SELECT count(*) AS n FROM users WHERE user_name = ? AND ${i % 97} = ${i % 97}`)
      .get('x');
    prepared++;
  }
}
prepareAndDrop(50_000);

let stopping = false;
const server = createServer((socket) => {
  socket.on('data', (chunk) => {
    if (stopping) return socket.destroy();
    // Allocate in the native read callback: collections (and Statement finalizers) run from here.
    const garbage = [];
    for (let i = 0; i < 200; i++) garbage.push({ i, s: chunk.toString('latin1', 0, 64) + i });
    prepareAndDrop(20);
    socket.write(chunk.subarray(0, 16));
  });
  socket.on('error', () => undefined);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();

const payload = Buffer.alloc(4096, 'x');
const clients = Array.from({ length: 4 }, () => {
  const client = connect(port, '127.0.0.1');
  client.on('data', () => client.write(payload));
  client.on('connect', () => client.write(payload));
  client.on('error', () => undefined);
  return client;
});

await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
stopping = true;
for (const client of clients) client.destroy();
await new Promise((resolve) => server.close(resolve));
store.close();
process.stdout.write(`${JSON.stringify({ survived: true, node: process.version, prepared, seconds })}\n`);
