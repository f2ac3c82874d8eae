import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, loadLocalConfig } from '../config/index.js';
import { createLogger } from '../log.js';
import { evaluateExpression, projectMappings } from '../mapping/index.js';
import { compileConfiguredMappings, createGraphApi } from '../runtime.js';
import { findUser, userSelect } from '../source/users.js';
import { userAttributes } from '../source/validate.js';
import { CommandFailed, print, printJson } from './common.js';

function parseInput(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('--input expects a JSON object of attribute values');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('--input expects a JSON object of attribute values');
  }
  return value as Record<string, unknown>;
}

function parseNow(text: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('--now expects an ISO-8601 time');
  return d;
}

export function registerMappingsCommands(program: Command): void {
  const mappings = program.command('mappings').description('attribute mappings: evaluate, check, preview');

  mappings
    .command('eval')
    .description('evaluate one expression against attribute values and print the result as JSON')
    .requiredOption('--expression <expr>', 'an expression, e.g. Join(" ", [givenName], [surname])')
    .option(
      '--input <json>',
      'attribute values as a JSON object (IsSoftDeleted may be given as a boolean)',
      parseInput,
      {},
    )
    .option('--now <iso>', 'the time Now() returns', parseNow)
    .option('--default-domain <domain>', 'what DefaultDomain() returns')
    .action(
      (flags: { expression: string; input: Record<string, unknown>; now?: Date; defaultDomain?: string }) => {
        const { IsSoftDeleted, ...attributes } = flags.input;
        const result = evaluateExpression(
          flags.expression,
          {
            attributes: attributes as never,
            isSoftDeleted: IsSoftDeleted === true || IsSoftDeleted === 'True',
          },
          { now: () => flags.now ?? new Date(), defaultDomain: flags.defaultDomain },
        );
        print(JSON.stringify(result ?? null));
      },
    );

  mappings
    .command('check')
    .description('validate the configured mappings and print what they read from Graph')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => {
      const config = loadLocalConfig();
      const compiled = compileConfiguredMappings(config);
      const summary = {
        configFile: config.configFile,
        mappings: compiled.definitions.length,
        select: userSelect(compiled.sourceAttributes),
        matching: compiled.matching,
        fingerprint: compiled.fingerprint,
        warnings: compiled.warnings,
      };
      // Warnings are advice about valid mappings: on stderr (and in --json), the exit code stays 0.
      for (const w of compiled.warnings) process.stderr.write(`warning: ${w}\n`);
      if (flags.json) printJson(summary);
      else {
        const n = summary.warnings.length;
        const advice = n === 0 ? '' : `, with ${n} warning${n === 1 ? '' : 's'} (stderr)`;
        print(`${summary.configFile}: ${summary.mappings} mappings are valid${advice}.`);
        print(`Graph $select: ${summary.select.join(',')}`);
        print(
          summary.matching.length === 0
            ? 'Matching: none (linking is off: a local row with the same userName fails that user)'
            : `Matching: ${summary.matching.map((m) => `${m.precedence}. ${m.target}`).join('; ')}`,
        );
      }
    });

  mappings
    .command('preview <user>')
    .description(
      'fetch one user (UPN or object id) from Graph and print the SCIM resource the mappings produce; writes nothing',
    )
    .action(async (user: string) => {
      const config = loadConfig();
      const compiled = compileConfiguredMappings(config);
      const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
      const api = createGraphApi(config, log);
      const raw = await findUser(api, user, compiled.sourceAttributes);
      if (!raw) throw new CommandFailed(`not found: no user ${JSON.stringify(user)} in Entra`);
      const parsed = userAttributes(raw);
      if ('problem' in parsed) throw new Error(`the user from Graph is unusable: ${parsed.problem}`);
      const evaluated = compiled.evaluate(
        { attributes: parsed.attributes, isSoftDeleted: parsed.attributes.accountEnabled === false },
        { now: () => new Date() },
      );
      printJson(projectMappings(null, evaluated, 'create').resource);
    });
}
