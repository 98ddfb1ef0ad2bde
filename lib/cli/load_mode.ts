/**
 * `client.ts` in load mode: reads the message once, runs the load with a
 * live progress line on a terminal, and prints the report. Loaded only in
 * load mode, so a single exchange never parses it.
 *
 * @module
 */

import { CLIENT_DEFAULTS, DEFAULT_MESSAGE, type SendMessageOptions } from "../client.ts";
import { formatAddress } from "../_io.ts";
import { type LoadOptions, runLoad } from "../load/run_load.ts";
import { formatLoadProgress, formatLoadReport } from "../load/format.ts";
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, reportFailure } from "./exit.ts";

/** What `client.ts` hands over for a load run. */
export interface LoadModeCli {
  /** `--json`: the report as one JSON object. */
  json: boolean;
  /** The command that would work, for a missing permission. */
  rerun: () => string | Promise<string>;
  /** The line printed after a usage error. */
  usageHint: string;
}

/** Every cycle sends the same bytes, so a piped message is read whole first. */
async function messageBytes(message: SendMessageOptions["message"]): Promise<Uint8Array> {
  if (message === undefined || typeof message === "string") {
    return new TextEncoder().encode(message ?? DEFAULT_MESSAGE);
  }
  if (message instanceof Uint8Array) return message;
  const chunks: Uint8Array[] = [];
  for await (const chunk of message) chunks.push(chunk.slice());
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/** Runs the load, shows progress on a terminal, prints the report; resolves to the exit code. */
export async function runLoadMode(
  load: LoadOptions,
  message: SendMessageOptions["message"],
  cli: LoadModeCli,
): Promise<number> {
  const { json, rerun, usageHint } = cli;
  let bytes = await messageBytes(message);
  if (load.keepAlive && bytes.at(-1) !== 0x0a) bytes = new Uint8Array([...bytes, 0x0a]);
  const live = !json && Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const { hostname = CLIENT_DEFAULTS.hostname, port = CLIENT_DEFAULTS.port } = load;
  const target = formatAddress({ hostname, port });
  // Ctrl-C ends the run early and still prints the report, as wrk does; a
  // second Ctrl-C stops at once.
  const stop = new AbortController();
  const onInterrupt = () => {
    if (stop.signal.aborted) Deno.exit(EXIT_INTERRUPTED);
    stop.abort();
  };
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
