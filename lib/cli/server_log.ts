/**
 * The server's log on the terminal: readable lines or JSON on stdout,
 * batched under load, and with `--quiet` only the errors, on stderr.
 *
 * @module
 */

import type { ServerEvent } from "../mod.ts";
import { formatEvent, formatEventJson, toConsoleArgs, toPlainText } from "../log/format.ts";

/** A logger for the server's events, with a way to write out what it holds. */
export type ServerLogger = ((event: ServerEvent) => void) & { flush(): void };

/**
 * Chooses how events reach the terminal. Colour only on a terminal (Deno
 * drops `%c` styles under NO_COLOR). Otherwise lines are gathered and written
 * once per turn of the event loop: under load many exchanges finish in one
 * turn, and one write for all of them costs far less than one each. The
 * first and last lines (listening, summary) are written at once.
 */
export function createLogger(
  json: boolean,
  quiet: boolean,
): ServerLogger {
  const encoder = new TextEncoder();
  let pending = "";
  let scheduled = false;
  let broken = false;
  const flush = () => {
    scheduled = false;
    if (pending === "" || broken) return;
    const bytes = encoder.encode(pending);
    pending = "";
    try {
      let offset = 0;
      while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
    } catch {
      // stdout was closed (`| head`): keep serving, stop logging.
      broken = true;
    }
  };
  const write = (line: string, now: boolean) => {
    pending += line + "\n";
    if (now) flush();
    else if (!scheduled) {
      scheduled = true;
      setTimeout(flush, 0);
    }
  };
  const color = !json && Deno.stdout.isTerminal() && !Deno.noColor;
  const log = (event: ServerEvent) => {
    const edge = event.type === "listening" || event.type === "summary";
    // Quiet keeps where it listens and how it went; the per-connection lines go.
    if (quiet && !edge) return;
    if (json) return write(formatEventJson(event), edge);
    const segments = formatEvent(event);
    if (!segments) return;
    if (color) console.log(...toConsoleArgs(segments));
    else write(toPlainText(segments), edge);
  };
  return Object.assign(log, { flush });
}

/**
 * What `--quiet` still reports, on stderr: what the summary counts as
 * errors (connections reset or failed, accepts that failed) and accepting
 * working again.
 */
export const QUIET_EVENT_TYPES: ServerEvent["type"][] = ["close", "accept-error", "accept-resumed"];

/** Writes the errors among `QUIET_EVENT_TYPES` to stderr, one readable line each. */
export function logErrorsToStderr(event: ServerEvent): void {
  if (!QUIET_EVENT_TYPES.includes(event.type)) return;
  if (event.type === "close" && event.reason !== "reset" && event.reason !== "error") return;
  const segments = formatEvent(event);
  if (!segments) return;
  const bytes = new TextEncoder().encode(toPlainText(segments) + "\n");
  try {
    let offset = 0;
    while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
  } catch {
    // stderr was closed: keep serving.
  }
}
