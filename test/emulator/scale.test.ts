import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScale } from './scale-run.js';

/**
 * The bar: 1,000,000 users created and paged well under a minute in a few hundred MB.
 * ENTRASYNC_SCALE_USERS lowers it for quick local runs; `npx tsx test/emulator/scale-run.ts`
 * measures the same outside vitest.
 */
const USERS = Number(process.env.ENTRASYNC_SCALE_USERS ?? 1_000_000);

describe('scale', () => {
  it(`bulk-creates ${USERS} users and pages all of users/delta over HTTPS`, async () => {
    const tls = {
      key: readFileSync(process.env.ENTRASYNC_TEST_TLS_KEY_FILE!, 'utf8'),
      cert: readFileSync(process.env.ENTRASYNC_TEST_TLS_CERT_FILE!, 'utf8'),
    };
    const f = await runScale(USERS, 1000, { tls });
    console.log(`emulator scale: ${JSON.stringify(f)}`);
    expect(f.objects).toBe(USERS);
    expect(f.incrementalObjects).toBe(USERS / 100);
    expect(f.createMs).toBeLessThan(2000);
    // Generous bounds: they catch a per-user object or snapshot creeping in, not machine noise.
    expect(f.pagingMs).toBeLessThan((USERS / 1_000_000) * 60_000);
    expect(f.rssMbPeak).toBeLessThan(600);
  }, 120_000);
});
