/**
 * A fresh token on request, past msal's cache: what GraphApi asks for when Graph rejects a token
 * that has not expired. Concurrent requests for one share a single call to the token endpoint, and
 * the fresh token replaces the cached one.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTokenProvider } from '../../src/auth/index.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { managedIdentityFromEmulator } from '../support/managed-identity.js';
import { memoryLogger, syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness | undefined;

beforeEach(async () => {
  // Long-lived tokens (as Entra's): msal serves them from its cache.
  emu = await startTestEmulator({ tokenLifetimeSeconds: 3599 });
  for (let i = 0; i < 3; i++) {
    const u = emu.tenant.createUser({ userPrincipalName: `fresh${i}@contoso.com`, accountEnabled: true });
    emu.tenant.assign(u.id, 'User');
  }
});
afterEach(async () => {
  h?.close();
  h = undefined;
  await emu.close();
});

const tokenRequests = () =>
  emu.tenant
    .requests()
    .map((r) => r.path.split('?')[0]!)
    .filter((p) => p.endsWith('/oauth2/v2.0/token') || p === '/msi/token');

async function expectFreshTokenBypassesCache(env: Record<string, string> = {}): Promise<void> {
  h = syncHarness(emu, { env });
  const tokens = createTokenProvider(h.config, memoryLogger().log);
  emu.tenant.clearRequests();
  const cached = await tokens.getToken();
  expect(await tokens.getToken()).toBe(cached);
  expect(tokenRequests()).toHaveLength(1);

  const fresh = await Promise.all([1, 2, 3].map(() => tokens.getToken({ fresh: true })));
  expect(new Set(fresh).size).toBe(1);
  expect(fresh[0]).not.toBe(cached);
  expect(tokenRequests()).toHaveLength(2);
  // The fresh token replaced the cached one.
  expect(await tokens.getToken()).toBe(fresh[0]);
  expect(tokenRequests()).toHaveLength(2);

  // And a cycle after a revocation succeeds with one more fresh token.
  expect((await h.sync()).status).toBe('succeeded');
  emu.tenant.revokeTokens();
  const late = emu.tenant.createUser({ userPrincipalName: 'fresh-late@contoso.com', accountEnabled: true });
  emu.tenant.assign(late.id, 'User');
  const r = await h.sync();
  expect(r.error?.message).toBeUndefined();
  expect(r.status).toBe('succeeded');
  expect(h.rows().map((x) => x.user_name)).toContain('fresh-late@contoso.com');
  expect(h.rt.api.stats.tokenRefreshes).toBeGreaterThanOrEqual(1);
}

describe('a fresh token on request', () => {
  it('client secret: skips the cache, once for concurrent callers, and replaces the cached token', async () => {
    await expectFreshTokenBypassesCache();
  });

  describe('managed identity', () => {
    managedIdentityFromEmulator(() => emu);

    it('forceRefresh past the cache, once for concurrent callers', async () => {
      await expectFreshTokenBypassesCache({
        ENTRASYNC_CLIENT_SECRET: '',
        ENTRASYNC_CREDENTIAL: 'managed-identity',
        ENTRASYNC_CLIENT_ID: '',
        ENTRASYNC_SERVICE_PRINCIPAL_ID: emu.servicePrincipalId,
      });
    });
  });
});
