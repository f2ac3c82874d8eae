import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { compileMappings, MappingConfigError, mappingDefinitionSchema } from '../mapping/index.js';
import { ConfigError } from './errors.js';

const positiveInt = z.number().int().positive();

/** Entra documents no default; its PM's example is 50. The percentage guards small stores' bulk. */
export const DEFAULT_THRESHOLD = { enabled: true, count: 50, percent: 25 };

export const settingsFileSchema = z
  .object({
    mappings: z.array(mappingDefinitionSchema).min(1),
    targetActions: z
      .object({ create: z.boolean(), update: z.boolean(), delete: z.boolean() })
      .strict()
      .default({ create: true, update: true, delete: true }),
    // Which local rows matching may link (README, "Matching and linking").
    matching: z
      .object({ linkOnlyWhere: z.enum(['any', 'linkable']).default('any') })
      .strict()
      .default({ linkOnlyWhere: 'any' }),
    scope: z
      .object({ expandNestedGroups: z.boolean().default(false) })
      .strict()
      .default({ expandNestedGroups: false }),
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
