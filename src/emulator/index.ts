import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createControl, type TenantControl } from './control.js';
import { DeltaTokens } from './delta-tokens.js';
import { Directory } from './directory.js';
import { Faults } from './faults.js';
import type { EmulatorCore } from './http.js';
import { DEFAULT_PERMISSIONS, Identity } from './identity.js';
import { hash32 } from './ids.js';
import { RequestLog } from './request-log.js';
import { seedTenant, type SeedOptions } from './seed.js';
import { createRequestHandler } from './server.js';
import { generateTlsMaterial } from './tls.js';

export type { TenantControl } from './control.js';
export type { FaultSpec } from './faults.js';
export type { UserRecord } from './users.js';
export type { GroupRecord } from './groups.js';
export type { AssignmentRecord, PrincipalType } from './assignments.js';
export type { LoggedRequest } from './request-log.js';

export interface EmulatorOptions {
  /** Default 0 (ephemeral). The server always binds 127.0.0.1. */
  port?: number;
  tls?: { key: string; cert: string };
  /** Where ca.pem is written; default a fresh temporary directory (removed on close). */
  caDir?: string;
  pageSize?: number;
  memberPageSize?: number;
  assignmentPageSize?: number;
  tokenLifetimeSeconds?: number;
  deltaTokenMaxAgeSeconds?: number;
  permissions?: string[];
  seed?: SeedOptions;
  latencyMs?: number;
  quiet?: boolean;
}

export interface RunningEmulator {
  url: string;
  caFile: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  appId: string;
  servicePrincipalId: string;
  /** Secret for the managed-identity endpoint (IDENTITY_HEADER; IDENTITY_ENDPOINT = url + /msi/token). */
  identityHeader: string;
  /** The tenant's default (and only verified) domain. */
  domain: string;
  tenant: TenantControl;
  /** Signs a Graph access token directly (tests: expired tokens, other roles). */
  issueAccessToken(opts?: { roles?: string[]; lifetimeSeconds?: number }): string;
  close(): Promise<void>;
}

const DOMAIN = 'contoso.onmicrosoft.com';

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const tls = options.tls ?? (await generateTlsMaterial());
  const ownCaDir = options.caDir === undefined;
  const caDir = options.caDir ?? mkdtempSync(join(tmpdir(), 'entrasync-emulator-'));
  const caFile = join(caDir, 'ca.pem');
  writeFileSync(caFile, tls.cert);

  const seed = options.seed?.seed;
  const idPrefix = seed === undefined ? undefined : hash32(seed, 0x5eed).toString(16).padStart(8, '0');
  const directory = new Directory(DOMAIN, seed ?? 1, idPrefix);
  const identity = new Identity(
    DOMAIN,
    options.tokenLifetimeSeconds ?? 3599,
    options.permissions ?? DEFAULT_PERMISSIONS,
  );
  const core: EmulatorCore = {
    origin: '',
    directory,
    identity,
    tokens: new DeltaTokens(options.deltaTokenMaxAgeSeconds ?? 7 * 24 * 3600),
    faults: new Faults(),
    log: new RequestLog(),
    pageSize: options.pageSize ?? 200,
    memberPageSize: options.memberPageSize ?? 500,
    assignmentPageSize: options.assignmentPageSize ?? 100,
    latencyMs: options.latencyMs ?? 0,
  };
  if (options.seed) seedTenant(directory, options.seed);
  const tenant = createControl(directory, identity, core.faults, core.tokens, core.log);

  const info = () => ({
    url: core.origin,
    caFile,
    tenantId: identity.tenantId,
    clientId: identity.clientId,
    clientSecret: identity.clientSecret,
    appId: identity.clientId,
    servicePrincipalId: identity.servicePrincipalId,
  });
  const server: Server = createServer({ key: tls.key, cert: tls.cert, keepAliveTimeout: 30_000 });
  server.on('request', createRequestHandler(core, tenant, info));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  core.origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (!options.quiet) process.stderr.write(`entrasync emulator listening on ${core.origin}\n`);

  return {
    ...(info() as Omit<
      RunningEmulator,
      'tenant' | 'close' | 'identityHeader' | 'domain' | 'issueAccessToken'
    >),
    identityHeader: identity.identityHeader,
    domain: DOMAIN,
    tenant,
    issueAccessToken: (o) => identity.issueAccessToken(o).token,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownCaDir) rmSync(caDir, { recursive: true, force: true });
    },
  };
}
