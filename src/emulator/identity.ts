import {
  X509Certificate,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import { graphError } from './errors.js';
import { decodeJwt, signJwt, verifyJwtSignature } from './jwt.js';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
export const DEFAULT_PERMISSIONS = ['User.Read.All', 'GroupMember.Read.All', 'Application.Read.All'];

let keyPair: { privateKey: KeyObject; publicKey: KeyObject } | undefined;
/** One token-signing key per process: RSA generation is the slowest part of starting an emulator,
 * and tokens stay tenant-bound anyway (Graph checks `tid`). */
function signingKeyPair() {
  keyPair ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
  return keyPair;
}

export interface FederatedIssuer {
  issuer: string;
  subject: string;
  publicKeyPem: string;
  audience?: string;
}

export interface AccessTokenClaims {
  roles: string[];
  appid: string;
  tid: string;
  exp: number;
  [claim: string]: unknown;
}

export interface AppRoleDefinition {
  id: string;
  value: string | null;
  displayName: string;
  allowedMemberTypes?: string[];
  isEnabled?: boolean;
  description?: string;
}

/**
 * The tenant's identity side: the one app registration (client id + secret, its certificates and
 * federated credentials), the permissions granted to it, and the key that signs access tokens.
 */
export class Identity {
  readonly tenantId = randomUUID();
  readonly clientId = randomUUID();
  readonly clientSecret = `${randomBytes(3).toString('hex')}~${randomBytes(27).toString('base64url')}`;
  readonly servicePrincipalId = randomUUID();
  readonly identityHeader = randomBytes(16).toString('hex');
  readonly appDisplayName = 'entrasync';
  /** The enterprise app's app roles (servicePrincipal.appRoles), for role assignments. */
  appRoles: AppRoleDefinition[] = [];
  permissions: Set<string>;
  private readonly certsSha256 = new Map<string, KeyObject>();
  private readonly certsSha1 = new Map<string, KeyObject>();
  readonly federated: FederatedIssuer[] = [];
  private readonly key: KeyObject;
  readonly publicKey: KeyObject;
  readonly kid: string;
  private readonly verified = new Map<string, AccessTokenClaims>();
  /** Serial of the next access token; it travels in the token's `uti`, so revocation needs no list. */
  private nextTokenSerial = 0;
  /** Tokens with a lower serial are rejected (revoked, as after a key rollover or a revocation). */
  private firstValidSerial = 0;

  constructor(
    readonly domain: string,
    readonly tokenLifetimeSeconds: number,
    permissions: string[],
  ) {
    this.permissions = new Set(permissions);
    const { privateKey, publicKey } = signingKeyPair();
    this.key = privateKey;
    this.publicKey = publicKey;
    this.kid = createHash('sha1')
      .update(publicKey.export({ format: 'der', type: 'spki' }))
      .digest('base64url');
  }

  isTenant(segment: string): boolean {
    const s = segment.toLowerCase();
    return s === this.tenantId || s === this.domain;
  }

  /** Registers a certificate credential; returns its SHA-256 thumbprint (hex, what msal takes). */
  registerCertificate(pem: string): string {
    const cert = new X509Certificate(pem);
    this.certsSha256.set(createHash('sha256').update(cert.raw).digest('base64url'), cert.publicKey);
    this.certsSha1.set(createHash('sha1').update(cert.raw).digest('base64url'), cert.publicKey);
    return createHash('sha256').update(cert.raw).digest('hex').toUpperCase();
  }

  /** msal puts the thumbprint in `x5t#S256` (PS256) or, for the deprecated SHA-1 one, in `x5t` (RS256). */
  certificateKey(header: Record<string, unknown>): KeyObject | undefined {
    const s256 = header['x5t#S256'];
    if (typeof s256 === 'string') return this.certsSha256.get(s256);
    const s1 = header.x5t;
    return typeof s1 === 'string' ? this.certsSha1.get(s1) : undefined;
  }

  registerFederatedIssuer(f: FederatedIssuer): void {
    createPublicKey(f.publicKeyPem);
    this.federated.push(f);
  }

  issueAccessToken(opts: { roles?: string[]; lifetimeSeconds?: number; appidacr?: string } = {}): {
    token: string;
    expiresIn: number;
  } {
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = opts.lifetimeSeconds ?? this.tokenLifetimeSeconds;
    const payload = {
      aud: GRAPH_RESOURCE,
      iss: `https://sts.windows.net/${this.tenantId}/`,
      iat: now,
      nbf: now,
      exp: now + expiresIn,
      app_displayname: this.appDisplayName,
      appid: this.clientId,
      appidacr: opts.appidacr ?? '1',
      idp: `https://sts.windows.net/${this.tenantId}/`,
      idtyp: 'app',
      oid: this.servicePrincipalId,
      roles: opts.roles ?? [...this.permissions],
      sub: this.servicePrincipalId,
      tid: this.tenantId,
      uti: tokenUti(this.nextTokenSerial++),
      ver: '1.0',
    };
    return { token: signJwt({ kid: this.kid, x5t: this.kid }, payload, this.key), expiresIn };
  }

  /** Validates a Graph bearer token the way Graph does; throws 401 InvalidAuthenticationToken. */
  verifyAccessToken(authorization: string | undefined, rejectAll = false): AccessTokenClaims {
    const fail = (message: string) =>
      graphError(401, 'InvalidAuthenticationToken', message, {
        'WWW-Authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`,
      });
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) throw fail('Access token is empty.');
    const token = m[1]!;
    let claims = this.verified.get(token);
    if (!claims) {
      const jwt = decodeJwt(token);
      if (!jwt) throw fail('IDX14100: JWT is not well formed, there are no dots (.).');
      if (jwt.header.kid !== this.kid || !verifyJwtSignature(jwt, this.publicKey))
        throw fail('Access token validation failure. Invalid signature.');
      const p = jwt.payload;
      if (p.aud !== GRAPH_RESOURCE && p.aud !== GRAPH_APP_ID)
        throw fail('Access token validation failure. Invalid audience.');
      if (p.tid !== this.tenantId) throw fail('Access token validation failure. Invalid issuer.');
      claims = { ...p, roles: Array.isArray(p.roles) ? (p.roles as string[]) : [] } as AccessTokenClaims;
      if (this.verified.size > 1000) this.verified.clear();
      this.verified.set(token, claims);
    }
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now())
      throw fail('Lifetime validation failed, the token is expired.');
    if (rejectAll) throw fail('Access token validation failure. Invalid signature.');
    if (utiSerial(claims.uti) < this.firstValidSerial)
      throw fail('Access token validation failure. The token has been revoked.');
    return claims;
  }

  /** Every access token issued so far is rejected from now on; tokens issued later are accepted. */
  revokeIssuedTokens(): void {
    this.firstValidSerial = this.nextTokenSerial;
  }
}

/** A `uti` of the usual 16 random-looking bytes whose first four carry the token's serial. */
function tokenUti(serial: number): string {
  const bytes = randomBytes(16);
  bytes.writeUInt32BE(serial >>> 0, 0);
  return bytes.toString('base64url');
}

function utiSerial(uti: unknown): number {
  if (typeof uti !== 'string') return -1;
  const bytes = Buffer.from(uti, 'base64url');
  return bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
}
