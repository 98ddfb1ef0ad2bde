/**
 * `client.ts` in load mode: reads the message once, runs the load with a
 * live progress line on a terminal, and prints the report. Loaded only in
 * load mode, so a single exchange never parses it.
 *
 * @module
 */

import { CLIENT_DEFAULTS, type SendMessageOptions } from "../client.ts";
import { formatAddress } from "../_io.ts";
import { type LoadOptions, runLoad } from "../load/run_load.ts";
import { formatLoadProgress, formatLoadReport } from "../load/format.ts";
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, reportFailure } from "./exit.ts";
import { loadMessage } from "./_load_message.ts";
import { stopListener } from "./_signals.ts";

/** What `client.ts` hands over for a load run. */
export interface LoadModeCli {
  /** `--json`: the report as one JSON object. */
  json: boolean;
  /** The command that would work, for a missing permission. */
  rerun: () => string | Promise<string>;
  /** The line printed after a usage error. */
  usageHint: string;
}

/** Runs the load, shows progress on a terminal, prints the report; resolves to the exit code. */
export async function runLoadMode(
  load: LoadOptions,
  message: SendMessageOptions["message"],
  cli: LoadModeCli,
): Promise<number> {
  const { json, rerun, usageHint } = cli;
  // Every cycle sends the same bytes: read whole first, stdin only for `-`.
  let bytes: Uint8Array;
  try {
    bytes = await loadMessage(message, load.duration ?? (load.count ? undefined : 10_000));
  } catch (error) {
    return await reportFailure(error, usageHint);
  }
  if (load.keepAlive && bytes.at(-1) !== 0x0a) bytes = new Uint8Array([...bytes, 0x0a]);
  const live = !json && Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const { hostname = CLIENT_DEFAULTS.hostname, port = CLIENT_DEFAULTS.port } = load;
  const target = formatAddress({ hostname, port });
  // Ctrl-C ends the run early and still prints the report, as wrk does; a
  // second Ctrl-C stops at once.
  const stop = new AbortController();
  const onInterrupt = stopListener(() => stop.abort(), () => Deno.exit(EXIT_INTERRUPTED));
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    const report = await runLoad({
      ...load,
      signal: stop.signal,
      message: bytes,
      onProgress: live
        ? (progress) =>
          Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${formatLoadProgress(progress)}`))
        : undefined,
    });
    if (live) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
    console.log(json ? JSON.stringify(report) : formatLoadReport(report, target));
    return Object.keys(report.errors).length === 0 ? EXIT_OK : EXIT_FAILURE;
  } catch (error) {
    return await reportFailure(error, usageHint, rerun);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
