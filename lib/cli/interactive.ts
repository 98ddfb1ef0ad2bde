/**
 * `client.ts -i` on the terminal: the session's Ctrl-C, the lines on stderr
 * that tell a person typing where they are, and the exit code. Loaded only
 * for `-i`, so the plain exchange never parses it.
 *
 * @module
 */

import type { SendMessageOptions } from "../client.ts";
import { runSession } from "../client/session.ts";
import { EXIT_INTERRUPTED, EXIT_OK, reportFailure } from "./exit.ts";
import { freshLine } from "./_fresh_line.ts";

/** What `client.ts` hands over for a session. */
export interface InteractiveCli {
  /** Standard input, chunk by chunk as it comes. */
  input: AsyncIterable<Uint8Array>;
  /** Standard output, for what arrives. */
  output: { write(chunk: Uint8Array): Promise<unknown> };
  /** Ends the output's last line on a terminal, if the server's did not. */
  endLine: () => Promise<void>;
  /** `--crlf`. */
  crlf: boolean;
  /** The line printed after a usage error. */
  usageHint: string;
}

/**
 * Runs an `-i` session: sends what is typed, line by line, prints what
 * arrives, until the server closes. Ctrl-D half-closes; Ctrl-C closes at
 * once (exit code 130). Resolves to the exit code.
 */
export async function runInteractive(
  options: SendMessageOptions,
  cli: InteractiveCli,
): Promise<number> {
  const { input, output, endLine, crlf, usageHint } = cli;
  const interrupted = new AbortController();
  const onInterrupt = () => interrupted.abort(new Deno.errors.Interrupted("Interrupted"));
  Deno.addSignalListener("SIGINT", onInterrupt);
  // A session has no default message, timeout or reply limit: only what
  // the command line asked for.
  const { replyTimeout, maxReplyBytes, message: _, ...connection } = options;
  const onTerminal = Deno.stdin.isTerminal();
  try {
    const result = await runSession(input, output, {
      ...connection,
      crlf,
      idleTimeout: replyTimeout,
      maxReceivedBytes: maxReplyBytes,
      signal: interrupted.signal,
      // Someone typing sees nothing else that says the connection is open.
      onConnect: onTerminal
        ? ({ remoteAddress }) =>
          console.error(`Connected to ${remoteAddress}; Ctrl-D ends your side, Ctrl-C closes`)
        : undefined,
    });
    await endLine();
    if (onTerminal && !result.inputEnded) {
      // Half a line typed stays on its line; the note starts the next one.
      console.error(`${freshLine()}note: "${result.remoteAddress}" closed the connection`);
    }
    return EXIT_OK;
  } catch (error) {
    await endLine();
    if (interrupted.signal.aborted) {
      // The terminal echoed ^C after whatever was typed: end that line, so
      // the shell's prompt starts on its own, as after a process it killed.
      if (onTerminal) await Deno.stderr.write(new Uint8Array([0x0a]));
      return EXIT_INTERRUPTED;
    }
    return await reportFailure(error, usageHint);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
