/**
 * One accept loop of a multi-worker server (`server.ts --workers N`), in a
 * Web Worker. It serves on a port shared with the other workers through
 * SO_REUSEPORT and reports to the main thread, which does the logging and
 * the combined summary:
 *
 * - in: `{ type: "start", options }`, then `{ type: "shutdown" }`;
 * - out: `{ type: "listening", port }`, `{ type: "event", event }`,
 *   `{ type: "stopped", stats }`, or `{ type: "failed", name, message }`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { serve, type TcpServer } from "./server.ts";
import type { ServeOptions } from "./serve_options.ts";

let server: TcpServer | undefined;

self.onmessage = async (message: MessageEvent) => {
  const { type, options, events } = message.data as {
    type: "start" | "shutdown";
    options: ServeOptions;
    events: boolean;
  };
  if (type === "start") {
    try {
      server = serve({
        ...options,
        reusePort: true,
        onEvent: events ? (event) => self.postMessage({ type: "event", event }) : undefined,
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
