import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, ConfigProblems, shown } from './errors.js';
import { allowCustomHosts, AUTHORITY_HOSTS, checkHost, GRAPH_HOSTS } from './hosts.js';
import { checkGroupSettings, checkMappings, loadSettingsFile, type SettingsFile } from './file.js';
import { appRoleReaders } from '../mapping/index.js';

export { ConfigError } from './errors.js';

export type Credential =
  | { kind: 'secret'; secret: string }
  | { kind: 'certificate'; file: string; privateKey: string; certificate: string; thumbprintSha256: string }
  | { kind: 'workload-identity'; tokenFile: string }
  | { kind: 'managed-identity'; clientId?: string };

export type UsersStrategySetting = 'auto' | 'tenant' | 'scoped';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  tenantId: string;
  clientId: string;
  credential: Credential;
  servicePrincipalId?: string;
  scope: 'assigned' | 'all';
  /** How a full round reads users; `auto` chooses by how many users matter (sync/users.ts). */
  usersStrategy: UsersStrategySetting;
  authorityHost: string;
  graphUrl: string;
  dbPath: string;
  configFile: string;
  logLevel: LogLevel;
  settings: SettingsFile;
}

/** What the store and the offline commands need: no identity, no secret. */
export interface LocalConfig {
  dbPath: string;
  configFile: string;
  logLevel: LogLevel;
  settings: SettingsFile;
}

type Env = Record<string, string | undefined>;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === '' ? undefined : v;
}

function required(env: Env, name: string, what: string): string {
  const v = value(env, name);
  if (!v) throw new ConfigError(name, `is required: ${what}`);
  return v;
}

/** A verified domain's shape: dot-separated DNS labels ending in a top-level name. */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

function tenant(env: Env): string {
  const name = 'ENTRASYNC_TENANT_ID';
  const v = required(env, name, 'the directory (tenant) id or a verified domain');
  if (['common', 'organizations', 'consumers'].includes(v.toLowerCase())) {
    throw new ConfigError(
      name,
      `"${v}" is not a tenant: client credentials need the directory (tenant) id (a GUID) or a verified domain`,
    );
  }
  if (!GUID.test(v) && !DOMAIN.test(v)) {
    throw new ConfigError(
      name,
      `expected the directory (tenant) id (a GUID) or a verified domain such as contoso.onmicrosoft.com, got ${shown(v)}`,
    );
  }
  return v;
}

function httpsOrigin(
  env: Env,
  name: string,
  fallback: string,
  known: readonly string[],
  allowCustom: boolean,
): string {
  const raw = value(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `expected an https URL such as ${fallback}, got ${shown(raw)}`);
  }
  if (url.protocol !== 'https:') throw new ConfigError(name, `must use https (got ${url.protocol}//)`);
  if (url.pathname !== '/' || url.search) {
    throw new ConfigError(name, `expected an origin without a path, such as ${fallback}`);
  }
  checkHost(name, url, known, allowCustom);
  return url.origin;
}

function readSecretFile(name: string, path: string): string {
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (!text) throw new ConfigError(name, `file ${path} is empty`);
    return text;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(name, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function certificateCredential(path: string): Credential {
  const name = 'ENTRASYNC_CLIENT_CERTIFICATE_FILE';
  const pem = readSecretFile(name, path);
  const certificate = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
  const privateKey = pem.match(
    /-----BEGIN (RSA )?PRIVATE KEY-----[\s\S]+?-----END (RSA )?PRIVATE KEY-----/,
  )?.[0];
  if (!certificate || !privateKey) {
    throw new ConfigError(
      name,
      'expected one PEM file holding both the certificate and its unencrypted private key',
    );
  }
  checkKeyPair(name, path, certificate, privateKey);
  const der = Buffer.from(certificate.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const thumbprintSha256 = createHashHex('sha256', der);
  return { kind: 'certificate', file: path, privateKey, certificate, thumbprintSha256 };
}

/**
 * A key that does not parse, or is not the certificate's, can never get a token: say so at start-up
 * instead of letting msal fail on every attempt as if the directory were down.
 */
function checkKeyPair(name: string, path: string, certificatePem: string, privateKeyPem: string): void {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(certificatePem);
  } catch {
    throw new ConfigError(name, `the certificate in ${path} does not parse`);
  }
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new ConfigError(
      name,
      `the private key in ${path} does not parse (expected an unencrypted PEM key)`,
    );
  }
  if (!cert.checkPrivateKey(key)) {
    throw new ConfigError(name, `the private key in ${path} does not belong to its certificate`);
  }
}

function createHashHex(algorithm: string, data: Buffer): string {
  return createHash(algorithm).update(data).digest('hex');
}

function credential(env: Env): Credential {
  const explicit = value(env, 'ENTRASYNC_CREDENTIAL');
  const secret = value(env, 'ENTRASYNC_CLIENT_SECRET');
  const secretFile = value(env, 'ENTRASYNC_CLIENT_SECRET_FILE');
  const certFile = value(env, 'ENTRASYNC_CLIENT_CERTIFICATE_FILE');
  const kinds = ['secret', 'certificate', 'workload-identity', 'managed-identity'];
  if (explicit && !kinds.includes(explicit)) {
    throw new ConfigError(
      'ENTRASYNC_CREDENTIAL',
      `expected one of ${kinds.join(', ')}, got ${shown(explicit)}`,
    );
  }
  if (secret && secretFile) {
    throw new ConfigError(
      'ENTRASYNC_CLIENT_SECRET_FILE',
      'set either ENTRASYNC_CLIENT_SECRET or _FILE, not both',
    );
  }
  const kind = explicit ?? (certFile ? 'certificate' : secret || secretFile ? 'secret' : undefined);
  switch (kind) {
    case 'secret':
      if (secretFile) return { kind, secret: readSecretFile('ENTRASYNC_CLIENT_SECRET_FILE', secretFile) };
      if (secret) return { kind, secret };
      throw new ConfigError('ENTRASYNC_CLIENT_SECRET', 'is required for the secret credential (or _FILE)');
    case 'certificate':
      return certificateCredential(
        required(env, 'ENTRASYNC_CLIENT_CERTIFICATE_FILE', 'PEM with certificate and key'),
      );
    case 'workload-identity':
      return {
        kind,
        tokenFile: required(env, 'AZURE_FEDERATED_TOKEN_FILE', 'the projected service account token file'),
      };
    case 'managed-identity':
      return { kind, clientId: value(env, 'ENTRASYNC_CLIENT_ID') };
    default:
      throw new ConfigError(
        'ENTRASYNC_CLIENT_SECRET',
        'no credential configured: set ENTRASYNC_CLIENT_SECRET, ENTRASYNC_CLIENT_SECRET_FILE or ENTRASYNC_CLIENT_CERTIFICATE_FILE, or ENTRASYNC_CREDENTIAL',
      );
  }
}

function guid(env: Env, name: string, optional: true): string | undefined;
function guid(env: Env, name: string, optional?: false): string;
function guid(env: Env, name: string, optional = false): string | undefined {
  const v = optional ? value(env, name) : required(env, name, 'a GUID');
  if (v !== undefined && !GUID.test(v)) throw new ConfigError(name, `expected a GUID, got ${shown(v)}`);
  return v;
}

/** Settings that need no identity: the store, the mappings, logging. Every problem is reported. */
export function loadLocalConfig(env: Env = process.env, cwd = process.cwd()): LocalConfig {
  const problems = new ConfigProblems();
  const logLevel = problems.check(() => logLevelOf(env));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const configFile = abs(value(env, 'ENTRASYNC_CONFIG') ?? defaultConfigFile());
  const db = value(env, 'ENTRASYNC_DB') ?? './data/entrasync.db';
  // A postgres:// URL selects PostgreSQL (checked in full when the store opens); else a SQLite file.
  const dbPath = /^postgres(ql)?:\/\//i.test(db.trim()) ? db.trim() : abs(db);
  const settings = problems.check(() => loadSettingsFile(configFile));
  problems.done();
  return { dbPath, configFile, logLevel: logLevel!, settings: settings! };
}

function logLevelOf(env: Env): LogLevel {
  const logLevel = (value(env, 'ENTRASYNC_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      'ENTRASYNC_LOG_LEVEL',
      `expected one of ${LOG_LEVELS.join(', ')}, got ${shown(logLevel)}`,
    );
  }
  return logLevel;
}

/** config/default.yaml of the installation, so the CLI works from any working directory. */
function defaultConfigFile(): string {
  return new URL('../../config/default.yaml', import.meta.url).pathname;
}

/**
 * Everything, validated at start-up. Every problem found is thrown together as one ConfigError, so a
 * first run names all the missing settings at once.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const problems = new ConfigProblems();
  const local = problems.check(() => loadLocalConfig(env, cwd));
  // Here, not in loadLocalConfig: the commands on the store alone (status, audit) work with bad mappings.
  if (local) problems.check(() => checkMappings(local.configFile, local.settings));
  const cred = problems.check(() => credential(env));
  const tenantId = problems.check(() => tenant(env));
  const managedIdentity = (cred?.kind ?? value(env, 'ENTRASYNC_CREDENTIAL')) === 'managed-identity';
  const clientId = problems.check(() =>
    managedIdentity ? (guid(env, 'ENTRASYNC_CLIENT_ID', true) ?? '') : guid(env, 'ENTRASYNC_CLIENT_ID'),
  );
  const servicePrincipalId = problems.check(() => {
    const id = guid(env, 'ENTRASYNC_SERVICE_PRINCIPAL_ID', true);
    if (managedIdentity && !id) {
      throw new ConfigError('ENTRASYNC_SERVICE_PRINCIPAL_ID', 'is required with a managed identity');
    }
    return id;
  });
  const scope = problems.check(() => {
    const v = value(env, 'ENTRASYNC_SCOPE') ?? 'assigned';
    if (v !== 'assigned' && v !== 'all') {
      throw new ConfigError('ENTRASYNC_SCOPE', `expected "assigned" or "all", got ${shown(v)}`);
    }
    const readers = v === 'all' && local ? appRoleReaders(local.settings.mappings) : [];
    if (readers.length > 0) {
      throw new ConfigError(
        'ENTRASYNC_SCOPE',
        `"all" lists no app-role assignments, which ${readers.join('; ')} read${readers.length === 1 ? 's' : ''} (Entra does not support app-role mappings with "Sync all"): set ENTRASYNC_SCOPE=assigned or remove ${readers.length === 1 ? 'that mapping' : 'those mappings'}`,
      );
    }
    return v;
  });
  const usersStrategy = problems.check(() => {
    const v = value(env, 'ENTRASYNC_USERS_STRATEGY') ?? 'auto';
    if (v !== 'auto' && v !== 'tenant' && v !== 'scoped') {
      throw new ConfigError(
        'ENTRASYNC_USERS_STRATEGY',
        `expected "auto", "tenant" or "scoped", got ${shown(v)}`,
      );
    }
    return v;
  });
  if (local) problems.check(() => checkGroupSettings(local.configFile, local.settings, scope));
  const allowCustom = problems.check(() => allowCustomHosts(env)) ?? false;
  const authorityHost = problems.check(() =>
    httpsOrigin(
      env,
      'ENTRASYNC_AUTHORITY_HOST',
      'https://login.microsoftonline.com',
      AUTHORITY_HOSTS,
      allowCustom,
    ),
  );
  const graphUrl = problems.check(() =>
    httpsOrigin(env, 'ENTRASYNC_GRAPH_URL', 'https://graph.microsoft.com', GRAPH_HOSTS, allowCustom),
  );
  problems.done();
  return {
    ...local!,
    tenantId: tenantId!,
    clientId: clientId!,
    credential: cred!,
    servicePrincipalId,
    scope: scope!,
    usersStrategy: usersStrategy!,
    authorityHost: authorityHost!,
    graphUrl: graphUrl!,
  };
}
