/**
 * How `server.ts` and `client.ts` end: exit codes, the usage error, and the
 * mapping from an error to one line on stderr and an exit code.
 *
 * @module
 */

import { MissingPermission } from "../_errors.ts";

/** Exit codes, documented in the README. */
export const EXIT_OK = 0;
/** A network or runtime failure: refused, timed out, reset, port in use, no permission. */
export const EXIT_FAILURE = 1;
/** The command line was wrong. */
export const EXIT_USAGE = 2;
/** A second Ctrl-C: stopped at once, as shells report SIGINT (128 + 2). */
export const EXIT_INTERRUPTED = 130;

/** A mistake on the command line; reported with a usage hint and exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Prints `error: <message>` on stderr, red on a colour terminal. */
export function printError(message: string, hint?: string): void {
  console.error("%cerror%c: %s", "color: red; font-weight: bold", "", message);
  if (hint) console.error(hint);
}

/**
 * Maps an error that ended a command to a one-line message and an exit code.
 * Never shows a stack trace: the message is what the user can act on. A
 * missing permission names the whole command that would work, from
 * `rerun`, when the script can say what that is: it is asked only then,
 * so that a script loads what builds the command only when it fails.
 */
export async function reportFailure(
  error: unknown,
  usage: string,
  rerun?: () => string | Promise<string>,
): Promise<number> {
  if (error instanceof UsageError) {
    printError(error.message, usage);
    return EXIT_USAGE;
  }
  if (error instanceof MissingPermission) {
    const { permission, target } = error;
    const what = permission === "net"
      ? "Network"
      : permission[0].toUpperCase() + permission.slice(1);
    const fix = rerun
      ? `; this works: ${await rerun()}`
      : `: run with --allow-${permission}=${target}`;
    printError(`${what} access to "${target}" is not allowed${fix}`);
    return EXIT_FAILURE;
  }
  if (error instanceof Deno.errors.NotCapable) {
    // Deno's own words name the permission; the command adds the rest.
    printError(error.message + (rerun ? `; this works: ${await rerun()}` : ""));
    return EXIT_FAILURE;
  }
  const message = error instanceof Error ? error.message : String(error);
  printError(message.replace(/ \(os error \d+\)$/, ""));
  return EXIT_FAILURE;
}

/**
 * Runs a script's flag parsing and answers what needs no more work: a usage
 * error (printed, exit 2), `--help` and `--version` (printed, exit 0).
 * Resolves to the parsed command line, or to the exit code when done.
 */
export async function parseCommandLine<T>(
  parse: () => T | "help" | "version" | Promise<T | "help" | "version">,
  script: { printUsage(version: string): void; version(): Promise<string>; usageHint: string },
): Promise<T | number> {
  let parsed;
  try {
    parsed = await parse();
  } catch (error) {
    return await reportFailure(error, script.usageHint);
  }
  if (parsed === "help") {
    script.printUsage(await script.version());
    return EXIT_OK;
  }
  if (parsed === "version") {
    console.log(await script.version());
    return EXIT_OK;
  }
  return parsed;
}
