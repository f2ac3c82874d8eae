/**
 * PostgreSQL connection settings: a libpq-style URL in ENTRASYNC_DB, the password from the URL,
 * PGPASSWORD or ENTRASYNC_DB_PASSWORD_FILE, the schema from ENTRASYNC_DB_SCHEMA; and the pool.
 * The password never leaves this module in a message: every URL shown goes through redactUrl.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { ConfigError, shown } from '../../config/errors.js';

export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly string[] = ['disable', 'require', 'verify-ca', 'verify-full'];

/** Where the password came from (for status; never the password itself). */
export type PasswordSource = 'url' | 'PGPASSWORD' | 'ENTRASYNC_DB_PASSWORD_FILE' | 'none';

export interface PostgresSettings {
  /** The URL with any password replaced by ***: the only form of it a message may show. */
  redactedUrl: string;
  host: string;
  port: number;
  database: string;
  user: string;
  /** Read on every new connection, so a rotated password file is picked up without a restart. */
  password?: () => string;
  passwordSource: PasswordSource;
  sslMode: SslMode;
  ssl: false | ConnectionOptions;
  /** Validated plain identifier: safe to quote into SQL. */
  schema: string;
  connectTimeoutMs?: number;
}

type Env = Record<string, string | undefined>;

const SETTING = 'ENTRASYNC_DB';
export const DEFAULT_SCHEMA = 'entrasync';
/** Query parameters understood (libpq names); libpq too rejects the ones it does not know. */
const PARAMETERS = [
  'sslmode',
  'sslrootcert',
  'host',
  'port',
  'dbname',
  'user',
  'password',
  'connect_timeout',
];

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s.trim());
}

/**
 * `url` with its password (in the user part or a `password` parameter) replaced by ***. A string
 * that is no URL is redacted by pattern, erring on the side of hiding too much.
 */
export function redactUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Everything between the scheme's `user:` and the last @ may be password.
    return url.replace(/^([a-z]+:\/\/[^:@/]*:).*@/i, '$1***@').replace(/(password=)[^&]*/gi, '$1***');
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString();
}

/** The settings for a postgres:// or postgresql:// URL; a ConfigError naming the variable at fault. */
export function parsePostgresUrl(url: string, env: Env = process.env): PostgresSettings {
  if (!isPostgresUrl(url)) throw new ConfigError(SETTING, 'expected a postgres:// or postgresql:// URL');
  const redactedUrl = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new ConfigError(
      SETTING,
      `not a valid URL: ${shown(redactedUrl)} (expected postgres://user@host:port/database)`,
    );
  }
  const params = parsed.searchParams;
  for (const key of params.keys()) {
    if (!PARAMETERS.includes(key)) {
      throw new ConfigError(SETTING, `unknown URL parameter ${shown(key)} (known: ${PARAMETERS.join(', ')})`);
    }
  }
  const host = params.get('host') ?? (decode(parsed.hostname.replace(/^\[(.*)\]$/, '$1')) || 'localhost');
  const portText = params.get('port') ?? (parsed.port || '5432');
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new ConfigError(SETTING, `port: expected 1-65535, got ${shown(portText)}`);
  }
  const user = params.get('user') ?? (decode(parsed.username) || env.PGUSER);
  if (!user) throw new ConfigError(SETTING, 'no user: put it in the URL (postgres://user@host/database)');
  const database = params.get('dbname') ?? (decode(parsed.pathname.replace(/^\//, '')) || user);
  const sslMode = (params.get('sslmode') ?? 'disable') as SslMode;
  if (!SSL_MODES.includes(sslMode)) {
    throw new ConfigError(SETTING, `sslmode: expected ${SSL_MODES.join(', ')}, got ${shown(sslMode)}`);
  }
  const timeout = params.get('connect_timeout');
  if (timeout !== null && !/^\d+$/.test(timeout)) {
    throw new ConfigError(SETTING, `connect_timeout: expected whole seconds, got ${shown(timeout)}`);
  }
  const { password, passwordSource } = passwordOf(params.get('password') ?? decode(parsed.password), env);
  return {
    redactedUrl,
    host,
    port,
    database,
    user,
    password,
    passwordSource,
    sslMode,
    ssl: sslOptions(sslMode, host, params.get('sslrootcert')),
    schema: schemaName(env),
    connectTimeoutMs: timeout && Number(timeout) > 0 ? Number(timeout) * 1000 : undefined,
  };
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(SETTING, 'a percent-encoded part of the URL is malformed');
  }
}

function passwordOf(fromUrl: string, env: Env): { password?: () => string; passwordSource: PasswordSource } {
  if (fromUrl) return { password: () => fromUrl, passwordSource: 'url' };
  if (env.PGPASSWORD) {
    const fromEnv = env.PGPASSWORD;
    return { password: () => fromEnv, passwordSource: 'PGPASSWORD' };
  }
  const file = env.ENTRASYNC_DB_PASSWORD_FILE;
  if (!file) return { passwordSource: 'none' };
  // Read now, so an unreadable file is a start-up error; again per connection for rotation, keeping
  // the last good password if the file is briefly missing while it is being replaced.
  let last = readPasswordFile(file);
  const password = () => {
    try {
      last = readPasswordFile(file);
    } catch {
      // keep the last good one
    }
    return last;
  };
  return { password, passwordSource: 'ENTRASYNC_DB_PASSWORD_FILE' };
}

function readPasswordFile(path: string): string {
  const name = 'ENTRASYNC_DB_PASSWORD_FILE';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(name, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const password = text.replace(/[\r\n]+$/, '');
  if (!password) throw new ConfigError(name, `file ${path} is empty`);
  return password;
}

/**
 * libpq's sslmode on pg's `ssl` option. No sslmode means no TLS (pg cannot do libpq's default
 * `prefer`, which falls back to plain text anyway). require encrypts without checking the
 * certificate; verify-ca checks the chain; verify-full also the host name. sslrootcert names the CA
 * file; without it the system's CAs (and NODE_EXTRA_CA_CERTS) are trusted.
 */
function sslOptions(mode: SslMode, host: string, rootCertFile: string | null): false | ConnectionOptions {
  if (mode === 'disable') return false;
  if (mode === 'require') return { rejectUnauthorized: false };
  const ca = rootCertFile && rootCertFile !== 'system' ? readRootCert(rootCertFile) : undefined;
  if (mode === 'verify-ca') return { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined };
  return { rejectUnauthorized: true, ca, servername: host };
}

function readRootCert(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      SETTING,
      `sslrootcert: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/**
 * ENTRASYNC_DB_SCHEMA, default `entrasync`. Lower case only, so the application can write
 * `entrasync.users` unquoted; never `pg_…`, which PostgreSQL reserves.
 */
export function schemaName(env: Env = process.env): string {
  const name = env.ENTRASYNC_DB_SCHEMA?.trim() || DEFAULT_SCHEMA;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || name.startsWith('pg_')) {
    throw new ConfigError(
      'ENTRASYNC_DB_SCHEMA',
      `expected a plain identifier (lower-case letters, digits and _, not starting with a digit or pg_), got ${shown(name)}`,
    );
  }
  return name;
}

export interface PoolOptions {
  /** Connections at most: one cycle writes on one at a time; the lease and reads need a few more. */
  max?: number;
  /** Server-side limit for each statement (sent as a startup parameter: see docs/operations.md on poolers). */
  statementTimeoutMs?: number;
  /** Called with an error of an idle connection (the server restarted, the network dropped it). */
  onIdleError?: (error: Error) => void;
}

/** bigint (int8) columns as numbers: audit sequence numbers, lease tokens and counts stay far below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** A small pool for the settings; every connection names itself `entrasync` to pg_stat_activity. */
export function createPool(settings: PostgresSettings, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    // Undefined when none is configured: the server may not ask for one (trust, peer, certificates).
    password: settings.password,
    ssl: settings.ssl,
    max: options.max ?? 4,
    application_name: 'entrasync',
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: settings.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    types,
  });
  // An idle connection that dies emits 'error' on the pool; unheard, it would end the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}

/**
 * A failure to reach or log in to PostgreSQL, with a message that names the server by its redacted
 * URL. The driver's error is not kept as the cause (a logger would print all of it); its SQLSTATE or
 * system code is, for the retry rule (errors.ts).
 */
export class PostgresConnectionError extends Error {
  readonly code?: string;
  constructor(settings: PostgresSettings, error: unknown) {
    const { message, code, errors } = (error ?? {}) as { message?: string; code?: string; errors?: Error[] };
    // Node reports a refused host with several addresses as an AggregateError with no message.
    const text = message || errors?.map((e) => e.message).join('; ') || code || String(error);
    super(`PostgreSQL at ${settings.redactedUrl}: ${scrub(text, settings)}`);
    this.name = 'PostgresConnectionError';
    this.code = code;
  }
}

/** `text` without the password, should a driver or server message ever repeat it. */
function scrub(text: string, settings: PostgresSettings): string {
  const password = settings.password?.();
  return password ? text.split(password).join('***') : text;
}

/** One round trip through the pool: a start-up check that turns a failure into a redacted error. */
export async function checkConnection(pool: pg.Pool, settings: PostgresSettings): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    throw new PostgresConnectionError(settings, error);
  }
}
