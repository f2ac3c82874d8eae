import { InvalidArgumentError } from 'commander';
import { DEFAULT_SCHEDULE, isCronSchedule } from '../config/daemon.js';

/**
 * Parsers for option values: commander reports what they throw as a usage error (exit 2) before
 * the command opens the store or runs anything.
 */

/** More than the audit could hold in any real store; bounds a typo such as a 30-digit number. */
export const MAX_LIMIT = 1_000_000;

export function positiveInteger(max: number): (raw: string) => number {
  return (raw) => {
    if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
      throw new InvalidArgumentError(`Expected a whole number from 1 to ${max}.`);
    }
    return Number(raw);
  };
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** An ISO 8601 date or time whose fields exist (Date.parse rolls 2024-02-30 over; this does not). */
export function isoTime(raw: string): string {
  const at = Date.parse(raw);
  if (!ISO_8601.test(raw) || Number.isNaN(at) || !sameCalendarDay(raw, at)) {
    throw new InvalidArgumentError(
      'Expected an ISO 8601 date or time, e.g. 2024-05-01 or 2024-05-01T08:00:00Z.',
    );
  }
  return new Date(at).toISOString();
}

function sameCalendarDay(raw: string, at: number): boolean {
  const [y, m, d] = raw.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return (
    day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d && !Number.isNaN(at)
  );
}

/** What the audit records: the planned actions, and the disables and deletes held by the threshold. */
export const AUDIT_ACTIONS = [
  'create',
  'link',
  'update',
  'disable',
  'enable',
  'delete',
  'skip',
  'error',
  'staged-disable',
  'staged-delete',
  'staged-delete-group',
  'add-member',
  'remove-member',
];

export function auditAction(raw: string): string {
  if (!AUDIT_ACTIONS.includes(raw))
    throw new InvalidArgumentError(`Expected one of ${AUDIT_ACTIONS.join(', ')}.`);
  return raw;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Cycle ids are UUIDs (see `entrasync status` or `audit --json`). */
export function cycleId(raw: string): string {
  if (!UUID.test(raw))
    throw new InvalidArgumentError('Expected a cycle id (a UUID, as `entrasync status` shows).');
  return raw.toLowerCase();
}

/** A TCP port for the daemon's HTTP server (0: any free port), as ENTRASYNC_HTTP_PORT accepts. */
export function tcpPort(raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535)
    throw new InvalidArgumentError('Expected a whole number from 0 to 65535.');
  return Number(raw);
}

/** A cron expression, as ENTRASYNC_SCHEDULE accepts. */
export function cronSchedule(raw: string): string {
  if (!isCronSchedule(raw.trim()))
    throw new InvalidArgumentError(
      `Expected a cron expression (5 fields, or 6 with seconds first; e.g. "${DEFAULT_SCHEDULE}").`,
    );
  return raw.trim();
}
