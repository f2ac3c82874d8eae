/** A setting that is missing or malformed. The CLI prints the message and exits 2. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
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
