import { X509Certificate, createHash, generateKeyPairSync, sign } from 'node:crypto';
import { ConfidentialClientApplication, ManagedIdentityApplication } from '@azure/msal-node';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { GRAPH_SCOPE, msalApp, msalAuth, quietSystem, rawGet } from './helpers.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startTestEmulator();
});
afterAll(() => emu.close());

const claims = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

async function postToken(form: Record<string, string>, tenant = emu.tenantId) {
  const res = await fetch(`${emu.url}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('client secret', () => {
  it('the real msal-node gets a token with only the token POST, carrying the granted roles', async () => {
    emu.tenant.clearRequests();
    const r = await msalApp(emu).acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
    expect(r?.accessToken).toBeTruthy();
    const c = claims(r!.accessToken);
    expect(c).toMatchObject({ aud: 'https://graph.microsoft.com', tid: emu.tenantId, appid: emu.clientId });
    expect(c.roles).toEqual(['User.Read.All', 'GroupMember.Read.All', 'Application.Read.All']);
    expect(Number(c.exp) - Number(c.iat)).toBe(3599);
    expect(emu.tenant.requests().map((q) => [q.method, q.path.split('?')[0], q.status])).toEqual([
      ['POST', `/${emu.tenantId}/oauth2/v2.0/token`, 200],
    ]);
  });

  it('a wrong secret is 401 invalid_client AADSTS7000215, in Entra error shape', async () => {
    const err = await msalApp(emu, 'not-the-secret')
      .acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] })
      .catch((e: unknown) => e as { errorCode: string; errorMessage: string });
    expect(err).toMatchObject({ errorCode: 'invalid_client' });
    expect((err as { errorMessage: string }).errorMessage).toContain('AADSTS7000215');

    const raw = await postToken({
      client_id: emu.clientId,
      client_secret: 'x',
      grant_type: 'client_credentials',
      scope: GRAPH_SCOPE,
    });
    expect(raw.status).toBe(401);
    expect(raw.body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    expect(raw.body.error_description).toMatch(
      /^AADSTS7000215: .*\r\nTrace ID: .+\r\nCorrelation ID: .+\r\nTimestamp: .+/s,
    );
    expect(Object.keys(raw.body)).toEqual(
      expect.arrayContaining([
        'error',
        'error_description',
        'error_codes',
        'timestamp',
        'trace_id',
        'correlation_id',
      ]),
    );
  });

  it('answers unknown tenant, unknown client and a non-.default scope like Entra', async () => {
    const base = {
      client_id: emu.clientId,
      client_secret: emu.clientSecret,
      grant_type: 'client_credentials',
      scope: GRAPH_SCOPE,
    };
    const tenant = await postToken(base, '11111111-1111-1111-1111-111111111111');
    expect(tenant.status).toBe(400);
    expect(tenant.body).toMatchObject({ error: 'invalid_request', error_codes: [90002] });
    const client = await postToken({ ...base, client_id: '22222222-2222-2222-2222-222222222222' });
    expect(client.status).toBe(400);
    expect(client.body).toMatchObject({ error: 'unauthorized_client', error_codes: [700016] });
    const scope = await postToken({ ...base, scope: 'https://graph.microsoft.com/User.Read.All' });
    expect(scope.status).toBe(400);
    expect(scope.body).toMatchObject({ error: 'invalid_scope' });
    const byDomain = await postToken(base, emu.domain);
    expect(byDomain.status).toBe(200);
    expect(byDomain.body).toMatchObject({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599 });
  });

  it('a token-endpoint fault surfaces as an msal ServerError, then tokens flow again', async () => {
    emu.tenant.setFaults({ token: { count: 1, status: 503 } });
    const app = msalApp(emu);
    await expect(app.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] })).rejects.toMatchObject({
      errorCode: 'temporarily_unavailable',
    });
    // msal throttles the same app instance after a 5xx (stack.md §2d), so a fresh one proves recovery.
    expect(
      (await msalApp(emu).acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] }))?.accessToken,
    ).toBeTruthy();
  });
});

describe('discovery', () => {
  it('serves openid-configuration whose issuer msal validates, instance discovery and JWKS', async () => {
    const oidc = await rawGet(emu, `/${emu.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(oidc.body).toMatchObject({
      issuer: `${emu.url}/${emu.tenantId}/v2.0`,
      token_endpoint: `${emu.url}/${emu.tenantId}/oauth2/v2.0/token`,
      jwks_uri: `${emu.url}/${emu.tenantId}/discovery/v2.0/keys`,
    });
    const inst = await rawGet(
      emu,
      `/common/discovery/instance?api-version=1.1&authorization_endpoint=${emu.url}/${emu.tenantId}/oauth2/v2.0/authorize`,
    );
    expect(inst.body).toMatchObject({ 'api-version': '1.1' });
    expect((inst.body.metadata as { aliases: string[] }[])[0]!.aliases).toEqual([new URL(emu.url).host]);
    const keys = await rawGet(emu, `/${emu.tenantId}/discovery/v2.0/keys`);
    expect((keys.body.keys as unknown[]).length).toBe(1);
    expect((await rawGet(emu, '/nope.example/v2.0/.well-known/openid-configuration')).body).toMatchObject({
      error_codes: [90002],
    });
  });

  it('msal without authorityMetadata discovers through the emulator (knownAuthorities only)', async () => {
    const { authorityMetadata: _omit, ...auth } = msalAuth(emu);
    emu.tenant.clearRequests();
    const app = new ConfidentialClientApplication({
      auth: { ...auth, clientSecret: emu.clientSecret },
      system: quietSystem,
    });
    expect((await app.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] }))?.accessToken).toBeTruthy();
    expect(emu.tenant.requests().map((r) => r.path.split('?')[0])).toEqual([
      `/${emu.tenantId}/v2.0/.well-known/openid-configuration`,
      `/${emu.tenantId}/oauth2/v2.0/token`,
    ]);
  });
});

describe('certificate and federated credentials', () => {
  let certPem: string;
  let keyPem: string;
  beforeAll(async () => {
    const pems = await generate([{ name: 'commonName', value: 'entrasync-client' }], {
      keySize: 2048,
      algorithm: 'sha256',
    });
    certPem = pems.cert;
    keyPem = pems.private;
  });

  it('rejects a certificate that is not registered (AADSTS700027), accepts it once registered', async () => {
    const x = new X509Certificate(certPem);
    const thumbprintSha256 = createHash('sha256').update(x.raw).digest('hex');
    const app = () =>
      new ConfidentialClientApplication({
        auth: { ...msalAuth(emu), clientCertificate: { thumbprintSha256, privateKey: keyPem } },
        system: quietSystem,
      });
    const err = await app()
      .acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] })
      .catch((e: unknown) => e as { errorCode: string; errorMessage: string });
    expect(err).toMatchObject({ errorCode: 'invalid_client' });
    expect((err as { errorMessage: string }).errorMessage).toContain('AADSTS700027');

    expect(emu.tenant.registerCertificate(certPem)).toBe(thumbprintSha256.toUpperCase());
    const r = await app().acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
    expect(claims(r!.accessToken)).toMatchObject({ appid: emu.clientId, appidacr: '2' });
  });

  it('accepts the deprecated SHA-1 thumbprint (RS256 assertion with x5t)', async () => {
    emu.tenant.registerCertificate(certPem);
    const thumbprint = createHash('sha1').update(new X509Certificate(certPem).raw).digest('hex');
    const app = new ConfidentialClientApplication({
      auth: { ...msalAuth(emu), clientCertificate: { thumbprint, privateKey: keyPem } },
      system: quietSystem,
    });
    expect((await app.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] }))?.accessToken).toBeTruthy();
  });

  it('rejects an assertion signed by another key with the registered thumbprint', async () => {
    emu.tenant.registerCertificate(certPem);
    const thumbprintSha256 = createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const app = new ConfidentialClientApplication({
      auth: { ...msalAuth(emu), clientCertificate: { thumbprintSha256, privateKey: String(other) } },
      system: quietSystem,
    });
    await expect(app.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] })).rejects.toMatchObject({
      errorCode: 'invalid_client',
    });
  });

  it('workload identity federation: a JWT from a registered issuer is exchanged', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const issuer = 'https://oidc.example.test/cluster';
    const subject = 'system:serviceaccount:entrasync:entrasync';
    emu.tenant.registerFederatedIssuer({
      issuer,
      subject,
      publicKeyPem: String(publicKey.export({ type: 'spki', format: 'pem' })),
    });
    const mint = (sub: string) => {
      const now = Math.floor(Date.now() / 1000);
      const head = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' })).toString('base64url');
      const body = Buffer.from(
        JSON.stringify({ iss: issuer, sub, aud: ['api://AzureADTokenExchange'], iat: now, exp: now + 600 }),
      ).toString('base64url');
      return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), privateKey).toString('base64url')}`;
    };
    const app = (sub: string) =>
      new ConfidentialClientApplication({
        auth: { ...msalAuth(emu), clientAssertion: async () => mint(sub) },
        system: quietSystem,
      });
    expect(
      (await app(subject).acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] }))?.accessToken,
    ).toBeTruthy();
    await expect(
      app('someone-else').acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] }),
    ).rejects.toMatchObject({
      errorCode: 'invalid_request',
    });
  });
});

describe('managed identity', () => {
  it("msal's App Service source gets a token with IDENTITY_ENDPOINT + IDENTITY_HEADER", async () => {
    const saved = { e: process.env.IDENTITY_ENDPOINT, h: process.env.IDENTITY_HEADER };
    process.env.IDENTITY_ENDPOINT = `${emu.url}/msi/token`;
    process.env.IDENTITY_HEADER = emu.identityHeader;
    try {
      const mi = new ManagedIdentityApplication({ system: quietSystem });
      expect(mi.getManagedIdentitySource()).toBe('AppService');
      const r = await mi.acquireToken({ resource: 'https://graph.microsoft.com' });
      expect(claims(r.accessToken)).toMatchObject({ tid: emu.tenantId });
      expect(
        (await rawGet(emu, '/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com')).status,
      ).toBe(401);
    } finally {
      for (const [k, v] of [
        ['IDENTITY_ENDPOINT', saved.e],
        ['IDENTITY_HEADER', saved.h],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });
});
