/**
 * What `server.ts` and `client.ts` share: flag parsing with one-line errors,
 * value parsers for ports, sizes and durations, and the mapping from errors
 * to messages and exit codes.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** Exit codes, documented in the README. */
export const EXIT_OK = 0;
/** A network or runtime failure: refused, timed out, reset, port in use, no permission. */
export const EXIT_FAILURE = 1;
/** The command line was wrong. */
export const EXIT_USAGE = 2;

/** A mistake on the command line; reported with a usage hint and exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses `args` strictly, turning `parseArgs`' long messages into one line
 * that names the flag.
 */
export function parseFlags<T extends Options>(
  args: string[],
  options: T,
  allowPositionals: boolean,
): { values: Record<string, string | string[] | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals, strict: true });
    return {
      values: values as Record<string, string | string[] | boolean | undefined>,
      positionals,
    };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    const quoted = message.match(/'([^']+)'/)?.[1] ?? "";
    // parseArgs quotes an option as '-p, --port <value>': name it as typed in full.
    const flag = quoted.match(/--[\w-]+/)?.[0] ?? quoted;
    switch (code) {
      case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
        throw new UsageError(`Unknown flag "${quoted}"`);
      case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
        if (message.includes("argument missing")) {
          throw new UsageError(`Flag "${flag}" needs a value`);
        }
        if (message.includes("ambiguous")) {
          throw new UsageError(
            `Flag "${flag}" needs a value; for one that starts with "-", write ${flag}=VALUE`,
          );
        }
        throw new UsageError(`Flag "${flag}" takes no value`);
      case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
        throw new UsageError(`Unexpected argument "${quoted}"`);
      default:
        throw new UsageError(message);
    }
  }
}

/** Parses a port number; `min` is 0 where "any free port" makes sense. */
export function parsePort(text: string, min: 0 | 1): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port >= min && port <= 65535)) {
    throw new UsageError(`Invalid port "${text}": expected a whole number from ${min} to 65535`);
  }
  return port;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds, into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i);
  if (!match) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected a duration such as 500ms, 30s or 2m, 0 for none`,
    );
  }
  return Math.round(Number(match[1]) * DURATION_UNITS[(match[2] ?? "s").toLowerCase()]);
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Parses `1024`, `64KiB`, `1MB`, `16m` into bytes; at least 1. */
export function parseSize(text: string, flag: string): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)\s*([a-z]*)$/i);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  const bytes = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected a size of at least 1 byte, such as 4096, 64KiB or 1MiB`,
    );
  }
  return bytes;
}

/** Parses a whole number of at least `min`. */
export function parseCount(text: string, flag: string, min: number): number {
  const count = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(count >= min) || !Number.isSafeInteger(count)) {
    throw new UsageError(`Invalid ${flag} "${text}": expected a whole number of at least ${min}`);
  }
  return count;
}

/** Prints `error: <message>` on stderr, red on a colour terminal. */
export function printError(message: string, hint?: string): void {
  console.error("%cerror%c: %s", "color: red; font-weight: bold", "", message);
  if (hint) console.error(hint);
}

/**
 * Maps an error that ended a command to a one-line message and an exit code.
 * Never shows a stack trace: the message is what the user can act on.
 */
export function reportFailure(error: unknown, usage: string): number {
  if (error instanceof UsageError) {
    printError(error.message, usage);
    return EXIT_USAGE;
  }
  if (error instanceof Deno.errors.NotCapable) {
    // Deno says: Requires net access to "0.0.0.0:9999", run again with the --allow-net flag
    const target = error.message.match(/access to "([^"]+)"/)?.[1];
    printError(
      target
        ? `Network access to "${target}" is not allowed: run with --allow-net=${target}`
        : error.message,
    );
    return EXIT_FAILURE;
  }
  const message = error instanceof Error ? error.message : String(error);
  printError(message.replace(/ \(os error \d+\)$/, ""));
  return EXIT_FAILURE;
}
