/** One setting that is missing or malformed. */
export interface ConfigProblem {
  readonly setting: string;
  readonly message: string;
}

/**
 * Settings that are missing or malformed: one, or every one found at start-up (so one run names them
 * all). The CLI prints each problem on a line of its own and exits 2.
 */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
    this.problems = [{ setting, message }];
  }

  /** Every problem of several errors in one; the message lists them one a line. */
  static all(errors: readonly ConfigError[]): ConfigError {
    if (errors.length === 1) return errors[0]!;
    const problems = errors.flatMap((e) => e.problems);
    const first = problems[0]!;
    const combined = new ConfigError(first.setting, first.message);
    Object.defineProperty(combined, 'problems', { value: problems });
    combined.message = problems.map((p) => `${p.setting}: ${p.message}`).join('\n');
    return combined;
  }
}

/**
 * Runs the checks of several settings and reports every failed one, not only the first: `check`
 * returns undefined for a setting that failed, and `done` throws them all together.
 */
export class ConfigProblems {
  private readonly errors: ConfigError[] = [];

  check<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.errors.push(error);
      return undefined;
    }
  }

  /** Throws every problem found so far as one ConfigError. */
  done(): void {
    if (this.errors.length > 0) throw ConfigError.all(this.errors);
  }
}

/** A GUID's length: the longest value a configuration error repeats. */
const LONGEST_SHOWN = 36;

/**
 * A rejected value as an error message may repeat it: quoted (control characters escaped) when it is
 * no longer than a GUID, else only its length. A secret pasted into the wrong variable (a client
 * secret is 40 characters) must not end up in a terminal or a log collector.
 */
export function shown(value: string): string {
  return value.length <= LONGEST_SHOWN ? JSON.stringify(value) : `(value hidden: ${value.length} characters)`;
}
