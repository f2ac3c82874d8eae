import type { Command } from 'commander';

/**
 * The environment variables each command reads, appended to its --help: the configuration is in
 * variables, so a command's help would otherwise not say how to configure it.
 */

const STORE = [
  ['ENTRASYNC_DB', 'the store: a SQLite file (default ./data/entrasync.db) or a postgres:// URL'],
  ['ENTRASYNC_DB_SCHEMA, ENTRASYNC_DB_PASSWORD_FILE, PGUSER, PGPASSWORD', 'PostgreSQL only'],
  ['ENTRASYNC_CONFIG', 'the settings file (mappings, target actions, …)'],
  ['ENTRASYNC_LOG_LEVEL', 'fatal, error, warn, info (default), debug, trace, silent'],
  ['ENTRASYNC_LOG_FORMAT, NO_COLOR', 'pretty or json (default: json); no colour when set'],
] as const;

/** Only the cycle commands choose pretty by themselves (src/log.ts); the rest, the daemon too, log JSON. */
const CYCLE_STORE = STORE.map(([name, what]) =>
  name.startsWith('ENTRASYNC_LOG_FORMAT')
    ? ([name, 'pretty or json (default: pretty on a terminal); no colour when set'] as const)
    : ([name, what] as const),
);

const IDENTITY = [
  ['ENTRASYNC_TENANT_ID', 'directory (tenant) id or verified domain (required)'],
  ['ENTRASYNC_CLIENT_ID', 'application (client) id (required)'],
  [
    'ENTRASYNC_CLIENT_SECRET, ENTRASYNC_CLIENT_SECRET_FILE, ENTRASYNC_CLIENT_CERTIFICATE_FILE',
    'the credential (one of them)',
  ],
  ['ENTRASYNC_CREDENTIAL, AZURE_FEDERATED_TOKEN_FILE', 'workload-identity or managed-identity instead'],
  [
    'ENTRASYNC_SERVICE_PRINCIPAL_ID',
    "the enterprise application's Object ID (default: the client id's own service principal)",
  ],
  ['ENTRASYNC_SCOPE, ENTRASYNC_USERS_STRATEGY', 'which users, and how a full round reads them'],
  [
    'ENTRASYNC_AUTHORITY_HOST, ENTRASYNC_GRAPH_URL, ENTRASYNC_ALLOW_CUSTOM_AUTHORITY',
    'national clouds, the emulator',
  ],
  ['NODE_EXTRA_CA_CERTS', 'a PEM file of extra trusted CAs (a TLS proxy, the emulator)'],
] as const;

const DAEMON = [
  ['ENTRASYNC_SCHEDULE', 'cron, default "0 * * * *" (--schedule overrides it)'],
  ['ENTRASYNC_TIMEZONE', 'IANA time zone of the schedule'],
  ['ENTRASYNC_HTTP_HOST, ENTRASYNC_HTTP_PORT', 'default 127.0.0.1:8080 (--port overrides the port)'],
  ['ENTRASYNC_READY_MAX_AGE, ENTRASYNC_SHUTDOWN_GRACE', 'seconds'],
  ['ENTRASYNC_HTTP_SHOW_USERS', '1: the status page at / shows userNames (personal data); default 0'],
] as const;

type Variables = readonly (readonly [string, string])[];

/** Command path (as typed after `entrasync`) → the variables it reads. */
const READS: Record<string, Variables> = {
  sync: [...IDENTITY, ...CYCLE_STORE],
  resync: [...IDENTITY, ...CYCLE_STORE],
  'approve-deletions': [...IDENTITY, ...CYCLE_STORE],
  'reject-deletions': STORE,
  retry: STORE,
  status: STORE,
  audit: STORE,
  'users export': STORE,
  'groups export': STORE,
  'test-connection': [...IDENTITY, ...STORE],
  provision: [...IDENTITY, ...STORE],
  'mappings check': STORE.filter(([name]) => name !== 'ENTRASYNC_DB' && !name.includes('PG')),
  'mappings preview': [...IDENTITY, ...STORE],
  run: [...IDENTITY, ...STORE, ...DAEMON],
};

function render(variables: Variables): string {
  const lines = variables.map(([name, what]) => `  ${name}\n      ${what}`);
  return `\nEnvironment:\n${lines.join('\n')}\n`;
}

/** Adds an "Environment:" section to the help of every command listed in READS. */
export function addEnvironmentHelp(program: Command): void {
  const visit = (command: Command, path: string[]) => {
    for (const sub of command.commands) {
      const name = [...path, sub.name()];
      const variables = READS[name.join(' ')];
      if (variables) sub.addHelpText('after', render(variables));
      visit(sub, name);
    }
  };
  visit(program, []);
}

/** For the tests: every command path that documents its variables. */
export const COMMANDS_WITH_ENVIRONMENT = Object.keys(READS);
