/**
 * One accept loop of a multi-worker server (`server.ts --workers N`), in a
 * Web Worker. It serves on a port shared with the other workers through
 * SO_REUSEPORT and reports to the main thread, which does the logging and
 * the combined summary:
 *
 * - in: `{ type: "start", options, events, unread }`, then `{ type: "shutdown" }`;
 * - out: `{ type: "listening", port }`, `{ type: "event", event }`,
 *   `{ type: "stopped", stats }`, or `{ type: "failed", name, message }`.
 *
 * Events are bounded (a message's first 4 KiB, as the log shows) and
 * flow-controlled: `unread` counts the events posted that the main thread has
 * not yet taken, and past `EVENT_WINDOW` this thread waits for it. A main
 * thread stuck writing to a log nobody reads then stalls the workers, as it
 * would stall a single-threaded server, instead of queueing events without
 * bound.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { serve, type TcpServer } from "../server.ts";
import type { ServeOptions } from "../serve_options.ts";

let server: TcpServer | undefined;

/** The most events posted and not yet taken by the main thread. */
const EVENT_WINDOW = 256;

/** What a message event carries of the message when the options say nothing. */
const PREVIEW_BYTES = 4096;

/** Posts an event once the main thread has room for it; blocks this thread until then. */
function post(event: unknown, unread: Int32Array): void {
  for (let count; (count = Atomics.load(unread, 0)) >= EVENT_WINDOW;) {
    // Wakes when the main thread takes one; the timeout only lets a
    // terminate() through.
    Atomics.wait(unread, 0, count, 100);
  }
  Atomics.add(unread, 0, 1);
  self.postMessage({ type: "event", event });
}

self.onmessage = async (message: MessageEvent) => {
  const { type, options, events, unread } = message.data as {
    type: "start" | "shutdown";
    options: ServeOptions;
    events: boolean;
    unread: Int32Array;
  };
  if (type === "start") {
    try {
      server = serve({
        ...options,
        reusePort: true,
        previewBytes: Math.min(options.previewBytes ?? PREVIEW_BYTES, PREVIEW_BYTES),
        onEvent: events ? (event) => post(event, unread) : undefined,
      });
      self.postMessage({ type: "listening", port: server.addr.port });
    } catch (error) {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      self.postMessage({ type: "failed", name, message });
    }
  } else if (server) {
    await server.shutdown();
    self.postMessage({ type: "stopped", stats: server.stats });
  }
};
