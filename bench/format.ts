/** The bench's rows and their Markdown table (also: `tsx bench/format.ts RESULTS.json`). */
import { readFileSync } from 'node:fs';
import type { RequestCounts } from './lib.js';

export interface Side {
  wallMs: number;
  peakRssMb: number;
  /** user + system CPU seconds of the process. */
  cpuS: number;
  requests: number;
  dbMb: number;
  items?: number;
}

export interface Row {
  scenario: string;
  strategy?: string;
  /** Set on PostgreSQL rows (`--store postgres`); SQLite rows have none, as before. */
  store?: 'sqlite' | 'postgres';
  tenantUsers: number;
  assigned: number;
  changes?: number;
  /** What users/s counts: tenant users (initial, resync) or changes (incremental). */
  itemsForRate: number;
  latencyMs: number;
  entrasync: Side & {
    counts: Record<string, number>;
    /** The emulator's count of each kind of request. */
    requestKinds: RequestCounts;
    /** Graph requests the cycle counted (the token request is not one). */
    cycleRequests: number;
    /** The cycle itself, from the cycles table: the process's wall time less start-up and exit. */
    cycleMs: number;
    profile?: unknown;
  };
  baseline?: Side;
  ratio?: number;
}

const s = (ms: number) => (ms / 1000).toFixed(2);
export const fmt = (n: number) => n.toLocaleString('en-US');
const rate = (r: Row) =>
  r.itemsForRate ? fmt(Math.round(r.itemsForRate / (r.entrasync.wallMs / 1000))) : '–';
const requests = (k: RequestCounts) =>
  [
    fmt(k.total),
    [
      k.usersPages ? `${fmt(k.usersPages)} pages` : '',
      k.usersById ? `${fmt(k.usersById)} by id` : '',
      k.usersLatest ? 'latest' : '',
      k.assignments ? `${fmt(k.assignments)} assignm.` : '',
    ]
      .filter(Boolean)
      .join(', '),
  ]
    .filter(Boolean)
    .join(': ');

const nameOf = (r: Row) =>
  r.scenario + (r.strategy ? ` (${r.strategy})` : '') + (r.store === 'postgres' ? ', PostgreSQL' : '');

export function line(r: Row): string {
  return [
    nameOf(r),
    fmt(r.tenantUsers),
    `${s(r.entrasync.wallMs)} s (cycle ${s(r.entrasync.cycleMs)} s, cpu ${r.entrasync.cpuS.toFixed(1)} s)`,
    `${rate(r)}/s`,
    `${r.entrasync.peakRssMb} MB`,
    `${requests(r.entrasync.requestKinds)}`,
    `${r.entrasync.dbMb} MB db`,
    r.baseline
      ? `baseline ${s(r.baseline.wallMs)} s (cpu ${r.baseline.cpuS.toFixed(1)} s), ${r.baseline.peakRssMb} MB, ${r.baseline.requests} req`
      : '',
    r.ratio !== undefined ? `ratio ${r.ratio}` : '',
  ]
    .filter(Boolean)
    .join(' | ');
}

export function table(rows: Row[]): string {
  const head = [
    'scenario',
    'tenant users',
    'assigned',
    'wall (cycle)',
    'users/s',
    'CPU',
    'peak RSS',
    'Graph requests',
    'DB size',
    'baseline wall',
    'baseline CPU',
    'baseline RSS',
    'baseline requests',
    'entrasync / baseline',
  ];
  const body = rows.map((r) =>
    [
      nameOf(r),
      fmt(r.tenantUsers),
      fmt(r.assigned),
      `${s(r.entrasync.wallMs)} s (${s(r.entrasync.cycleMs)} s)`,
      rate(r),
      `${r.entrasync.cpuS.toFixed(1)} s`,
      `${r.entrasync.peakRssMb} MB`,
      requests(r.entrasync.requestKinds),
      `${r.entrasync.dbMb} MB`,
      r.baseline ? `${s(r.baseline.wallMs)} s` : '–',
      r.baseline ? `${r.baseline.cpuS.toFixed(1)} s` : '–',
      r.baseline ? `${r.baseline.peakRssMb} MB` : '–',
      r.baseline ? fmt(r.baseline.requests) : '–',
      r.ratio !== undefined ? `${r.ratio.toFixed(2)}×` : '–',
    ].join(' | '),
  );
  return [`| ${head.join(' | ')} |`, `|${' --- |'.repeat(head.length)}`, ...body.map((b) => `| ${b} |`)].join(
    '\n',
  );
}

if (process.argv[1]?.endsWith('format.ts')) {
  const result = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { rows: Row[] };
  console.log(table(result.rows));
}
