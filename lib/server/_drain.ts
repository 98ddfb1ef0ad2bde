/**
 * The draining shutdown: once the accept loop has stopped, connections in
 * flight get until the drain deadline to finish, and the rest are closed.
 * As `socketserver.shutdown()` and Go's `httptest.Server.Close`, it
 * resolves only when every connection is closed.
 *
 * @module
 */

import type { ShutdownEvent } from "../events.ts";
import type { Connection } from "../connection.ts";

/**
 * Drains `open`: reports the `shutdown` event, waits for the connections
 * still in an exchange up to `drainTimeoutMs`, then closes those left.
 *
 * @param allClosed Resolves once the last open connection has closed; only
 * called while some are open.
 */
export async function drain(
  open: Iterable<Connection> & { readonly size: number },
  drainTimeoutMs: number,
  report: (event: ShutdownEvent) => void,
  allClosed: () => Promise<void>,
): Promise<void> {
  // Connections that already have their reply only wait for the client to
  // close; there is nothing left to deliver, so they go at once, and the
  // drain waits only for those still in an exchange.
  let active = 0;
  for (const connection of open) {
    if (connection.replied) connection.close("done");
    else active++;
  }
  report({ type: "shutdown", time: Date.now(), active, drainTimeoutMs });
  if (open.size === 0) return;
  const closed = allClosed();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, drainTimeoutMs));
  await Promise.race([closed, deadline]);
  clearTimeout(timer);
  for (const connection of open) connection.close("shutdown");
  await closed;
}
