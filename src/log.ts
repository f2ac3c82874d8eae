import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { LogLevel } from './config/index.js';
import { ConfigError, shown } from './config/errors.js';

export type { Logger } from 'pino';

/** `pretty`: one readable line per entry (pino-pretty); `json`: JSON lines, for collectors. */
export type LogFormat = 'pretty' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json'];

/**
 * What a cycle command chose (`--log-format`, else ENTRASYNC_LOG_FORMAT, else pretty on a terminal);
 * unset for the rest, the daemon included, which log JSON unless ENTRASYNC_LOG_FORMAT says otherwise.
 */
let chosenFormat: LogFormat | 'auto' | undefined;

export function useLogFormat(format: LogFormat | 'auto'): void {
  chosenFormat = format;
}

/** ENTRASYNC_LOG_FORMAT, checked: a bad value names the variable (exit 2). */
export function logFormatFromEnv(env: NodeJS.ProcessEnv = process.env): LogFormat | undefined {
  const raw = env.ENTRASYNC_LOG_FORMAT?.trim();
  if (!raw) return undefined;
  if (!(LOG_FORMATS as readonly string[]).includes(raw))
    throw new ConfigError('ENTRASYNC_LOG_FORMAT', `expected pretty or json, got ${shown(raw)}`);
  return raw as LogFormat;
}

/**
 * The characters of src/cli/text.ts's list that JSON leaves raw (C1 controls, bidi and zero-width
 * marks; C0 controls in data are JSON-escaped already, and ESC starts pino-pretty's own colours):
 * a pretty line shows user data, and a terminal must not act on it.
 */
const RAW_IN_JSON = /[\u007F-\u009F\u061C\u200B-\u200F\u2028-\u2029\u202A-\u202E\u2066-\u2069\uFEFF]/g;
const escapeForTerminal = (text: string) =>
  text.replace(RAW_IN_JSON, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`);

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colourWanted(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!(stream as NodeJS.WriteStream).isTTY && !env.NO_COLOR;
}

/**
 * Something drawn on the terminal below the log (the progress bar): cleared before a log line is
 * written and drawn again after it, so neither corrupts the other.
 */
export interface TerminalOverlay {
  clear(): void;
  redraw(): void;
}
let overlay: TerminalOverlay | null = null;

export function setTerminalOverlay(next: TerminalOverlay | null): void {
  overlay = next;
}

/**
 * JSON lines (or pretty ones, see LogFormat) on stdout. Secrets never reach a log call on purpose;
 * the redaction is a second line of defence for an error object that carries request options or
 * form bodies. Lines are written synchronously, in order with what the command prints after them.
 */
export function createLogger(
  level: LogLevel = 'info',
  destination: NodeJS.WritableStream = process.stdout,
): Logger {
  const requested = chosenFormat ?? logFormatFromEnv() ?? 'json';
  const isTty = !!(destination as NodeJS.WriteStream).isTTY;
  const format = requested === 'auto' ? (isTty ? 'pretty' : 'json') : requested;
  const pretty =
    format === 'pretty'
      ? prettyFactory({
          colorize: colourWanted(destination),
          translateTime: 'SYS:HH:MM:ss',
          ignore: 'pid,hostname,name',
          singleLine: true,
        })
      : null;
  const sink = {
    write(line: string) {
      const around = isTty ? overlay : null;
      around?.clear();
      destination.write(pretty ? escapeForTerminal(pretty(line)) : line);
      around?.redraw();
    },
  };
  return pino(
    {
      level,
      base: { name: 'entrasync' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'secret',
          'clientSecret',
          'client_secret',
          'accessToken',
          'access_token',
          'token',
          'authorization',
          'headers.authorization',
          'headers.Authorization',
          '*.clientSecret',
          '*.client_secret',
          '*.accessToken',
          '*.authorization',
        ],
        censor: '[redacted]',
      },
    },
    // The JSON path writes straight through, as before; the wrapper only adds the overlay and pretty.
    format === 'json' && !isTty ? (destination as pino.DestinationStream) : sink,
  );
}
