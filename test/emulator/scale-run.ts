/**
 * Scale check: bulk-create N users, then page all of users/delta over HTTPS with keep-alive.
 * `npx tsx test/emulator/scale-run.ts [users=1000000] [pageSize=1000]` prints one JSON line of
 * figures. Also used (with smaller N) by scale.test.ts.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { pathToFileURL } from 'node:url';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';

function getJson(agent: Agent, url: string, token: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`${res.statusCode} ${text.slice(0, 300)}`));
        else resolve(JSON.parse(text) as Record<string, unknown>);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface ScaleFigures {
  users: number;
  pageSize: number;
  createMs: number;
  pagingMs: number;
  pages: number;
  objects: number;
  rssMbAfterCreate: number;
  rssMbPeak: number;
  heapMbAfter: number;
  incrementalMs: number;
  incrementalObjects: number;
}

export async function runScale(
  users: number,
  pageSize: number,
  options: EmulatorOptions = {},
): Promise<ScaleFigures> {
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  const emu: RunningEmulator = await startEmulator({ quiet: true, pageSize, ...options });
  const agent = new Agent({ keepAlive: true, ca: readFileSync(emu.caFile, 'utf8') });
  try {
    const t0 = performance.now();
    emu.tenant.bulkCreateUsers(users, { assignEvery: 10 });
    const createMs = performance.now() - t0;
    const rssMbAfterCreate = mb(process.memoryUsage().rss);
    let peak = rssMbAfterCreate;
    const token = emu.issueAccessToken();
    const round = async (start: string) => {
      let url: string | undefined = start;
      let objects = 0;
      let pages = 0;
      let deltaLink = '';
      while (url) {
        const body = await getJson(agent, url, token);
        objects += (body.value as unknown[]).length;
        pages++;
        url = body['@odata.nextLink'] as string | undefined;
        deltaLink = (body['@odata.deltaLink'] as string | undefined) ?? deltaLink;
        if (pages % 100 === 0) peak = Math.max(peak, mb(process.memoryUsage().rss));
      }
      return { objects, pages, deltaLink };
    };
    const t1 = performance.now();
    const full = await round(
      `${emu.url}/v1.0/users/delta?$select=userPrincipalName,displayName,mail,accountEnabled,employeeId`,
    );
    const pagingMs = performance.now() - t1;
    peak = Math.max(peak, mb(process.memoryUsage().rss));
    // A round after 1% of the users changed: cost proportional to the changes, not the tenant.
    for (let k = 0; k < users; k += 100)
      emu.tenant.updateUser(emu.tenant.userIdAt(k), { displayName: `changed ${k}` });
    const t2 = performance.now();
    const inc = await round(full.deltaLink);
    const incrementalMs = performance.now() - t2;
    peak = Math.max(peak, mb(process.memoryUsage().rss));
    return {
      users,
      pageSize,
      createMs: Math.round(createMs),
      pagingMs: Math.round(pagingMs),
      pages: full.pages,
      objects: full.objects,
      rssMbAfterCreate,
      rssMbPeak: peak,
      heapMbAfter: mb(process.memoryUsage().heapUsed),
      incrementalMs: Math.round(incrementalMs),
      incrementalObjects: inc.objects,
    };
  } finally {
    agent.destroy();
    await emu.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const users = Number(process.argv[2] ?? 1_000_000);
  const pageSize = Number(process.argv[3] ?? 1000);
  console.log(JSON.stringify(await runScale(users, pageSize)));
}
