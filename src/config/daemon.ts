import { isIP } from 'node:net';
import { validate } from 'node-cron';
import { ConfigError, ConfigProblems, shown } from './errors.js';

/** Settings of `entrasync run` only; the cycle itself is configured by loadConfig. */
export interface DaemonConfig {
  schedule: string;
  timezone?: string;
  httpPort: number;
  httpHost: string;
  /** /readyz fails when the last successful cycle is older than this. */
  readyMaxAgeSeconds: number;
  /** How long SIGTERM waits for a running cycle before leaving it at a transaction boundary. */
  shutdownGraceSeconds: number;
  /** The status page at / shows userNames and failing users' errors (personal data); off unless set. */
  showUsers?: true;
}

type Env = Record<string, string | undefined>;

export const DEFAULT_SCHEDULE = '0 * * * *';
/** Two hourly cycles may be missed (one slow, one failed over) before readiness fails; 10 min slack. */
export const DEFAULT_READY_MAX_AGE = 2 * 3600 + 600;
/** Fits inside `docker stop`'s default 10 s before SIGKILL; Kubernetes allows 30 s by default. */
export const DEFAULT_SHUTDOWN_GRACE = 8;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === '' ? undefined : v;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${shown(raw)}`);
  }
  return n;
}

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function httpHost(env: Env): string {
  // Loopback unless told otherwise: /status and /metrics need no authentication. The image sets
  // 0.0.0.0, as a container's port is reachable only where it is published.
  const host = value(env, 'ENTRASYNC_HTTP_HOST') ?? '127.0.0.1';
  if (isIP(host) === 0 && !HOST_NAME.test(host)) {
    throw new ConfigError('ENTRASYNC_HTTP_HOST', `expected an IP address or a host name, got ${shown(host)}`);
  }
  return host;
}

function timezone(env: Env): string | undefined {
  const tz = value(env, 'ENTRASYNC_TIMEZONE');
  if (tz === undefined) return undefined;
  // node-cron accepts an unknown zone silently and then throws from stop(): check it here.
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ConfigError(
      'ENTRASYNC_TIMEZONE',
      `unknown IANA time zone ${shown(tz)} (e.g. Europe/Berlin, UTC)`,
    );
  }
  return tz;
}

function showUsers(env: Env): boolean {
  const raw = value(env, 'ENTRASYNC_HTTP_SHOW_USERS');
  if (raw === undefined || raw === '0') return false;
  if (raw === '1') return true;
  throw new ConfigError(
    'ENTRASYNC_HTTP_SHOW_USERS',
    `expected 1 (show userNames on the status page) or 0, got ${shown(raw)}`,
  );
}

/** `entrasync run --schedule/--port`: validated by the command line parser, they win over the variables. */
export interface DaemonOverrides {
  schedule?: string;
  httpPort?: number;
}

/** Whether node-cron accepts `schedule` (for the --schedule option as for ENTRASYNC_SCHEDULE). */
export function isCronSchedule(schedule: string): boolean {
  return validate(schedule);
}

function scheduleOf(env: Env): string {
  const schedule = value(env, 'ENTRASYNC_SCHEDULE') ?? DEFAULT_SCHEDULE;
  if (!validate(schedule)) {
    throw new ConfigError(
      'ENTRASYNC_SCHEDULE',
      `${shown(schedule)} is not a cron expression (5 fields, or 6 with seconds first; e.g. "${DEFAULT_SCHEDULE}")`,
    );
  }
  return schedule;
}

/** Every daemon setting, each problem reported (see ConfigProblems). */
export function loadDaemonConfig(env: Env = process.env, overrides: DaemonOverrides = {}): DaemonConfig {
  const problems = new ConfigProblems();
  const schedule = overrides.schedule ?? problems.check(() => scheduleOf(env));
  const tz = problems.check(() => timezone(env));
  const httpPort =
    overrides.httpPort ?? problems.check(() => integer(env, 'ENTRASYNC_HTTP_PORT', 8080, 0, 65535));
  const host = problems.check(() => httpHost(env));
  const readyMaxAgeSeconds = problems.check(() =>
    integer(env, 'ENTRASYNC_READY_MAX_AGE', DEFAULT_READY_MAX_AGE, 1, 366 * 86400),
  );
  const shutdownGraceSeconds = problems.check(() =>
    integer(env, 'ENTRASYNC_SHUTDOWN_GRACE', DEFAULT_SHUTDOWN_GRACE, 0, 3600),
  );
  const show = problems.check(() => showUsers(env));
  problems.done();
  return {
    schedule: schedule!,
    ...(tz ? { timezone: tz } : {}),
    httpPort: httpPort!,
    httpHost: host!,
    readyMaxAgeSeconds: readyMaxAgeSeconds!,
    shutdownGraceSeconds: shutdownGraceSeconds!,
    ...(show ? { showUsers: true as const } : {}),
  };
}
