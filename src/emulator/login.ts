import { aadError, graphError, HttpError } from './errors.js';
import { readBody, sendJson, type Ctx } from './http.js';
import { GRAPH_RESOURCE } from './identity.js';
import { decodeJwt, verifyJwtSignature } from './jwt.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const FEDERATION_AUDIENCE = 'api://AzureADTokenExchange';
const SKEW_SECONDS = 300;

function endpoints(origin: string, tenant: string) {
  return {
    token_endpoint: `${origin}/${tenant}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${origin}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${origin}/${tenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${origin}/oidc/userinfo`,
    authorization_endpoint: `${origin}/${tenant}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${origin}/${tenant}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${origin}/${tenant}/oauth2/v2.0/logout`,
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'nonce',
      'tid',
      'ver',
      'oid',
      'roles',
    ],
    kerberos_endpoint: `${origin}/${tenant}/kerberos`,
    tenant_region_scope: 'NA',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

function requireTenant(ctx: Ctx, segment: string): string {
  const id = ctx.core.identity;
  if (id.isTenant(segment)) return id.tenantId;
  throw aadError(
    400,
    'invalid_request',
    90002,
    `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  );
}

/** Routes of the Entra side. Returns false when the path is not a login path. */
export async function handleLogin(ctx: Ctx): Promise<boolean> {
  const { path, req } = ctx;
  const origin = ctx.core.origin;
  if (req.method === 'GET' && path === '/common/discovery/instance') {
    const host = new URL(origin).host;
    const auth = ctx.url.searchParams.get('authorization_endpoint') ?? '';
    const tenant = /^https:\/\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? 'common';
    sendJson(ctx, 200, {
      tenant_discovery_endpoint: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
    return true;
  }
  if (req.method === 'GET' && path === '/msi/token') {
    managedIdentityToken(ctx);
    return true;
  }
  let m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
  if (m && req.method === 'GET') {
    const seg = m[1]!;
    const tenant = ['common', 'organizations'].includes(seg) ? '{tenantid}' : requireTenant(ctx, seg);
    sendJson(ctx, 200, endpoints(origin, tenant));
    return true;
  }
  m = /^\/([^/]+)\/discovery\/v2\.0\/keys$/.exec(path);
  if (m && req.method === 'GET') {
    const id = ctx.core.identity;
    const jwk = id.publicKey.export({ format: 'jwk' });
    sendJson(ctx, 200, { keys: [{ kty: 'RSA', use: 'sig', kid: id.kid, x5t: id.kid, n: jwk.n, e: jwk.e }] });
    return true;
  }
  m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
  if (m) {
    if (req.method !== 'POST')
      throw aadError(405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
    await tokenEndpoint(ctx, m[1]!);
    return true;
  }
  return false;
}

async function tokenEndpoint(ctx: Ctx, tenantSegment: string): Promise<void> {
  const { identity: id, faults } = ctx.core;
  const fault = faults.takeTokenFault();
  if (fault) {
    const e = aadError(
      fault.status,
      'temporarily_unavailable',
      90033,
      'A transient error has occurred. Please try again.',
    );
    if (fault.retryAfter !== undefined) e.headers['Retry-After'] = String(fault.retryAfter);
    throw e;
  }
  if (['common', 'organizations', 'consumers'].includes(tenantSegment.toLowerCase()))
    throw aadError(
      400,
      'invalid_request',
      50059,
      'No tenant-identifying information found in either the request or implied by any provided credentials.',
    );
  requireTenant(ctx, tenantSegment);
  const form = new URLSearchParams(await readBody(ctx.req));
  let clientId = form.get('client_id');
  let secret = form.get('client_secret');
  const basic = /^Basic\s+(\S+)$/i.exec(ctx.req.headers.authorization ?? '');
  if (basic) {
    const [u, p] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
    clientId = decodeURIComponent(u ?? '');
    secret = decodeURIComponent(p ?? '');
  }
  if (!clientId)
    throw aadError(
      400,
      'invalid_request',
      900144,
      "The request body must contain the following parameter: 'client_id'.",
    );
  if (clientId.toLowerCase() !== id.clientId)
    throw aadError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${id.domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    );
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials')
    throw aadError(
      400,
      'unsupported_grant_type',
      70003,
      `The app requested an unsupported grant type '${grant ?? ''}'.`,
    );
  const scope = form.get('scope') ?? '';
  if (!scope.endsWith('/.default'))
    throw aadError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  const resource = scope.slice(0, -'/.default'.length);
  // The emulator is a cloud of its own: like graph.microsoft.us for US Government, its Graph host
  // (its origin) is also a valid resource identifier.
  if (
    resource !== GRAPH_RESOURCE &&
    resource !== ctx.core.origin &&
    resource !== '00000003-0000-0000-c000-000000000000'
  )
    throw aadError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${id.domain}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    );

  let appidacr = '1';
  const assertion = form.get('client_assertion');
  if (secret !== null) {
    if (secret !== id.clientSecret)
      throw aadError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${id.clientId}'.`,
      );
  } else if (assertion !== null) {
    if (form.get('client_assertion_type') !== JWT_BEARER)
      throw aadError(
        400,
        'invalid_request',
        700023,
        `Invalid client_assertion_type. Expected '${JWT_BEARER}'.`,
      );
    checkAssertion(ctx, assertion, `${ctx.core.origin}/${tenantSegment}/oauth2/v2.0/token`);
    appidacr = '2';
  } else {
    throw aadError(
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    );
  }
  const { token, expiresIn } = id.issueAccessToken({ appidacr });
  sendJson(
    ctx,
    200,
    { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: token },
    {
      'Cache-Control': 'no-store, no-cache',
      Pragma: 'no-cache',
    },
  );
}

/** A certificate-signed client assertion (msal's clientCertificate) or a federated token (WIF). */
function checkAssertion(ctx: Ctx, assertion: string, tokenEndpoint: string): void {
  const id = ctx.core.identity;
  const jwt = decodeJwt(assertion);
  if (!jwt) throw aadError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
  const p = jwt.payload;
  const now = Math.floor(Date.now() / 1000);
  const checkTime = () => {
    if (
      typeof p.exp !== 'number' ||
      p.exp + SKEW_SECONDS < now ||
      (typeof p.nbf === 'number' && p.nbf - SKEW_SECONDS > now)
    )
      throw aadError(
        401,
        'invalid_client',
        700024,
        `Client assertion is not within its valid time range. Current time: ${new Date().toISOString()}, expiry time of assertion ${typeof p.exp === 'number' ? new Date(p.exp * 1000).toISOString() : 'missing'}.`,
      );
  };
  const federated = id.federated.filter((f) => f.issuer === p.iss);
  if (federated.length > 0) {
    const auds = Array.isArray(p.aud) ? p.aud : [p.aud];
    const match = federated.find(
      (f) => f.subject === p.sub && auds.includes(f.audience ?? FEDERATION_AUDIENCE),
    );
    if (!match)
      throw aadError(
        400,
        'invalid_request',
        70021,
        `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(p.iss)}'. Assertion Subject: '${String(p.sub)}'. Assertion Audience: '${auds.join(',')}'.`,
      );
    if (!verifyJwtSignature(jwt, match.publicKeyPem))
      throw aadError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    checkTime();
    return;
  }
  const key = id.certificateKey(jwt.header);
  if (!key) {
    const thumb = String(jwt.header['x5t#S256'] ?? jwt.header.x5t ?? '');
    throw aadError(
      401,
      'invalid_client',
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumb}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${id.clientId}'.]`,
    );
  }
  if (!verifyJwtSignature(jwt, key))
    throw aadError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
  if (p.iss !== id.clientId || p.sub !== id.clientId)
    throw aadError(
      401,
      'invalid_client',
      700021,
      "Client assertion application identifier doesn't match 'client_id' parameter.",
    );
  if (p.aud !== tokenEndpoint)
    throw aadError(
      401,
      'invalid_client',
      700027,
      `Client assertion audience claim does not match Realm issuer. Expected '${tokenEndpoint}'.`,
    );
  checkTime();
}

/** App Service managed identity (msal's AppService source): IDENTITY_ENDPOINT + IDENTITY_HEADER. */
function managedIdentityToken(ctx: Ctx): void {
  const id = ctx.core.identity;
  if (ctx.req.headers['x-identity-header'] !== id.identityHeader)
    throw new HttpError(401, 'unauthorized', 'The X-IDENTITY-HEADER header is missing or wrong.');
  const fault = ctx.core.faults.takeTokenFault();
  if (fault)
    throw graphError(
      fault.status,
      'temporarily_unavailable',
      'A transient error has occurred. Please try again.',
    );
  const resource = ctx.url.searchParams.get('resource') ?? '';
  const wanted = resource.replace(/\/$/, '');
  // As at the token endpoint: the emulator's own origin is its Graph resource too.
  if (wanted !== GRAPH_RESOURCE && wanted !== ctx.core.origin)
    throw new HttpError(400, 'invalid_resource', `Resource '${resource}' is not supported by the emulator.`);
  const { token, expiresIn } = id.issueAccessToken({ appidacr: '2' });
  sendJson(ctx, 200, {
    access_token: token,
    expires_on: String(Math.floor(Date.now() / 1000) + expiresIn),
    resource,
    token_type: 'Bearer',
    client_id: id.clientId,
  });
}
