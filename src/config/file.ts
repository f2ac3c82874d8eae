import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import {
  compileGroupFilter,
  compileGroupMappings,
  compileMappings,
  DEFAULT_GROUP_MAPPINGS,
  MappingConfigError,
  mappingDefinitionSchema,
} from '../mapping/index.js';
import { ConfigError } from './errors.js';

const positiveInt = z.number().int().positive();

/** Entra documents no default; its PM's example is 50. The percentage guards small stores' bulk. */
export const DEFAULT_THRESHOLD = { enabled: true, count: 50, percent: 25 };

const ALL_ACTIONS = { create: true, update: true, delete: true };
const targetActionsSchema = z
  .object({ create: z.boolean(), update: z.boolean(), delete: z.boolean() })
  .strict()
  .default(ALL_ACTIONS);

/** Entra's "Provision Microsoft Entra ID Groups" (on by default, as in Entra). */
export const DEFAULT_GROUPS = {
  enabled: true,
  filter: null,
  mappings: DEFAULT_GROUP_MAPPINGS.map((m) => ({ ...m })),
  targetActions: ALL_ACTIONS,
};

export const settingsFileSchema = z
  .object({
    mappings: z.array(mappingDefinitionSchema).min(1),
    targetActions: targetActionsSchema,
    // Which local rows matching may link (README, "Matching and linking").
    matching: z
      .object({ linkOnlyWhere: z.enum(['any', 'linkable']).default('any') })
      .strict()
      .default({ linkOnlyWhere: 'any' }),
    scope: z
      .object({ expandNestedGroups: z.boolean().default(false) })
      .strict()
      .default({ expandNestedGroups: false }),
    groups: z
      .object({
        enabled: z.boolean().default(true),
        // Scope `all` only: groups for which it is not "True" are out of scope.
        filter: z.string().trim().min(1, 'filter must be an expression or null').nullable().default(null),
        mappings: z.array(mappingDefinitionSchema).min(1).default(DEFAULT_GROUPS.mappings),
        targetActions: targetActionsSchema,
      })
      .strict()
      .default(DEFAULT_GROUPS),
    graph: z
      .object({
        maxAttempts: positiveInt.max(20).default(6),
        retryBaseDelayMs: z.number().int().min(0).default(1000),
        retryMaxDelayMs: z.number().int().min(0).default(60_000),
      })
      .strict()
      .default({ maxAttempts: 6, retryBaseDelayMs: 1000, retryMaxDelayMs: 60_000 }),
    sync: z
      .object({
        batchSize: positiveInt.max(10_000).default(500),
        lockTtlSeconds: positiveInt.default(60),
        busyTimeoutSeconds: positiveInt.default(120),
      })
      .strict()
      .default({ batchSize: 500, lockTtlSeconds: 60, busyTimeoutSeconds: 120 }),
    safety: z
      .object({
        deletionThreshold: z
          .object({
            enabled: z.boolean().default(true),
            count: z.number().int().min(0).nullable().default(DEFAULT_THRESHOLD.count),
            percent: z.number().min(0).max(100).nullable().default(DEFAULT_THRESHOLD.percent),
          })
          .strict()
          .default(DEFAULT_THRESHOLD),
        retry: z
          .object({ baseSeconds: positiveInt.default(3600), maxSeconds: positiveInt.default(86_400) })
          .strict()
          .default({ baseSeconds: 3600, maxSeconds: 86_400 }),
      })
      .strict()
      .default({ deletionThreshold: DEFAULT_THRESHOLD, retry: { baseSeconds: 3600, maxSeconds: 86_400 } }),
  })
  .strict();

export type SettingsFile = z.infer<typeof settingsFileSchema>;

/** Reads and validates the YAML settings file; every problem names its key path. */
export function loadSettingsFile(path: string): SettingsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('ENTRASYNC_CONFIG', `cannot read ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new ConfigError('ENTRASYNC_CONFIG', `${path} is not valid YAML: ${(error as Error).message}`);
  }
  const result = settingsFileSchema.safeParse(raw ?? {});
  if (!result.success) {
    // Every key that is wrong, not only the first: one run names them all.
    throw ConfigError.all(
      result.error.issues.map((issue) => {
        const key = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
        return new ConfigError(`${path}: ${key.replace(/^\./, '') || '(root)'}`, issue.message);
      }),
    );
  }
  return result.data;
}

/**
 * The mappings compile (targets, expressions, source attributes): checked with the other settings, so
 * a typo in a mapping is reported in the same run as a missing variable.
 */
export function checkMappings(path: string, settings: SettingsFile): void {
  try {
    compileMappings(settings.mappings, { graphSources: true });
  } catch (error) {
    if (error instanceof MappingConfigError) {
      throw new ConfigError(`${path}: mappings[${error.mappingIndex}].${error.field}`, error.message);
    }
    throw error;
  }
}

/** The group mappings and filter compile; `scope` (when known) must allow the filter. */
export function checkGroupSettings(path: string, settings: SettingsFile, scope?: 'assigned' | 'all'): void {
  const { groups } = settings;
  const errors: ConfigError[] = [];
  try {
    compileGroupMappings(groups.mappings);
  } catch (error) {
    if (!(error instanceof MappingConfigError)) throw error;
    const where = error.mappingIndex >= 0 ? `[${error.mappingIndex}].${error.field}` : '';
    errors.push(new ConfigError(`${path}: groups.mappings${where}`, error.message));
  }
  if (groups.filter !== null) {
    try {
      compileGroupFilter(groups.filter);
    } catch (error) {
      if (!(error instanceof MappingConfigError)) throw error;
      errors.push(new ConfigError(`${path}: groups.filter`, error.message));
    }
    if (scope === 'assigned')
      errors.push(
        new ConfigError(
          `${path}: groups.filter`,
          'applies only with ENTRASYNC_SCOPE=all (with scope assigned, the groups assigned to the application are in scope); set it to null',
        ),
      );
  }
  if (errors.length) throw ConfigError.all(errors);
}
