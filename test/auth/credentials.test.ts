/**
 * Each credential kind, chosen explicitly in configuration, through the real config loader, msal-node
 * and a full sync cycle against the emulator.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTokenProvider, CredentialError } from '../../src/auth/index.js';
import { runCycle } from '../../src/sync/cycle.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { signJwt } from '../../src/emulator/jwt.js';
import { generateTlsMaterial } from '../../src/emulator/tls.js';
import { startTestEmulator } from '../support/emulator.js';
import { managedIdentityFromEmulator } from '../support/managed-identity.js';
import { memoryLogger, syncHarness, tempDir, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness | undefined;

beforeEach(async () => {
  // Tokens shorter-lived than msal's 5-minute renewal margin: every getToken() goes to the endpoint.
  emu = await startTestEmulator({ tokenLifetimeSeconds: 120 });
  for (let i = 0; i < 3; i++) {
    const u = emu.tenant.createUser({ userPrincipalName: `cred${i}@contoso.com`, accountEnabled: true });
    emu.tenant.assign(u.id, 'User');
  }
});
afterEach(async () => {
  h?.close();
  h = undefined;
  await emu.close();
});

/** The env of the harness without the client secret it sets by default. */
const NO_SECRET = { ENTRASYNC_CLIENT_SECRET: '' };

const tokenRequests = () =>
  emu.tenant
    .requests()
    .map((r) => ({ ...r, path: r.path.split('?')[0]! }))
    .filter((r) => r.path.endsWith('/oauth2/v2.0/token') || r.path === '/msi/token');

async function expectFullSync(harness: SyncHarness): Promise<void> {
  const r = await harness.sync();
  expect(r.error?.message).toBeUndefined();
  expect(r.status).toBe('succeeded');
  expect(harness.rows().map((x) => x.user_name)).toEqual([
    'cred0@contoso.com',
    'cred1@contoso.com',
    'cred2@contoso.com',
  ]);
}

describe('credentials', () => {
  it('token requests made at the same time share one request to the token endpoint', async () => {
    h = syncHarness(emu);
    const tokens = createTokenProvider(h.config, memoryLogger().log);
    emu.tenant.clearRequests();
    const together = await Promise.all([1, 2, 3, 4].map(() => tokens.getToken()));
    expect(new Set(together).size).toBe(1);
    expect(tokenRequests()).toHaveLength(1);
    // Once it has come back, the next request is a new one (these tokens are too short-lived to reuse).
    await tokens.getToken();
    expect(tokenRequests()).toHaveLength(2);
  });

  it('client secret from a file (Docker/Kubernetes secret), trailing newline ignored', async () => {
    const dir = tempDir();
    const file = join(dir, 'client-secret');
    writeFileSync(file, `${emu.clientSecret}\n`);
    h = syncHarness(emu, {
      dir,
      env: { ...NO_SECRET, ENTRASYNC_CLIENT_SECRET_FILE: file, ENTRASYNC_CREDENTIAL: 'secret' },
    });
    expect(h.config.credential.kind).toBe('secret');
    await expectFullSync(h);
    expect(tokenRequests().length).toBeGreaterThan(0);
    expect(tokenRequests().every((r) => r.status === 200)).toBe(true);
  });

  it('client certificate: a PEM with certificate and key, registered on the app', async () => {
    const { cert, key } = await generateTlsMaterial();
    const dir = tempDir();
    const file = join(dir, 'client.pem');
    writeFileSync(file, `${cert}\n${key}\n`);
    const env = {
      ...NO_SECRET,
      ENTRASYNC_CREDENTIAL: 'certificate',
      ENTRASYNC_CLIENT_CERTIFICATE_FILE: file,
    };

    // Not registered yet: refused at once (AADSTS700027), no retries, the cycle fails cleanly.
    h = syncHarness(emu, { dir, env });
    const refused = await h.sync();
    expect(refused.status).toBe('failed');
    expect(refused.error).toBeInstanceOf(CredentialError);
    expect(refused.error?.message).toMatch(/AADSTS700027/);
    expect(tokenRequests()).toHaveLength(1);
    h.close();

    emu.tenant.registerCertificate(cert);
    h = syncHarness(emu, { dir, env });
    await expectFullSync(h);
  });

  describe('workload identity federation', () => {
    const issuer = 'https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/';
    const subject = 'system:serviceaccount:apps:entrasync';
    let key: KeyObject;
    let file: string;
    const mint = (signingKey: KeyObject = key, sub = subject) => {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: issuer,
        sub,
        aud: ['api://AzureADTokenExchange'],
        iat: now,
        nbf: now,
        exp: now + 3600,
      };
      writeFileSync(file, signJwt({ kid: 'k8s' }, payload, signingKey));
    };

    beforeEach(() => {
      const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      key = pair.privateKey;
      emu.tenant.registerFederatedIssuer({
        issuer,
        subject,
        publicKeyPem: String(pair.publicKey.export({ type: 'spki', format: 'pem' })),
      });
      file = join(tempDir(), 'azure-identity-token');
    });

    it('the projected token is exchanged for a Graph token; a full sync works', async () => {
      mint();
      h = syncHarness(emu, {
        env: { ...NO_SECRET, ENTRASYNC_CREDENTIAL: 'workload-identity', AZURE_FEDERATED_TOKEN_FILE: file },
      });
      await expectFullSync(h);
    });

    it('the token file is read again for every token request (the kubelet rotates it)', async () => {
      mint();
      h = syncHarness(emu, {
        env: { ...NO_SECRET, ENTRASYNC_CREDENTIAL: 'workload-identity', AZURE_FEDERATED_TOKEN_FILE: file },
      });
      const tokens = createTokenProvider(h.config, memoryLogger().log, { maxAttempts: 2, baseDelayMs: 10 });
      expect(await tokens.getToken()).toBeTruthy();
      // A token the directory refuses: proof that the file, not a copy from start-up, is sent.
      mint(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
      await expect(tokens.getToken()).rejects.toThrow(CredentialError);
      // The rotated, valid token works again without a restart.
      mint();
      expect(await tokens.getToken()).toBeTruthy();
      expect(tokenRequests().map((r) => r.status)).toEqual([200, 401, 200]);
    });
  });

  describe('managed identity', () => {
    managedIdentityFromEmulator(() => emu);

    it('system-assigned: a token from the identity endpoint; a full sync works', async () => {
      h = syncHarness(emu, {
        env: {
          ...NO_SECRET,
          ENTRASYNC_CREDENTIAL: 'managed-identity',
          ENTRASYNC_CLIENT_ID: '',
          ENTRASYNC_SERVICE_PRINCIPAL_ID: emu.servicePrincipalId,
        },
      });
      expect(h.config.credential).toEqual({ kind: 'managed-identity' });
      const r = await runCycle(h.rt);
      expect(r.error?.message).toBeUndefined();
      expect(h.rows()).toHaveLength(3);
      // Tokens from the App Service endpoint (with its secret header), nothing from the token endpoint.
      const requests = tokenRequests();
      expect(requests.length).toBeGreaterThan(0);
      expect(requests.every((x) => x.path === '/msi/token' && x.status === 200)).toBe(true);
    });
  });
});
