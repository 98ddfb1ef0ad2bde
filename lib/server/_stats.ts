/**
 * The server's counters: zero at the start, and what each closed
 * connection adds.
 *
 * @module
 */

import type { CloseReason, ServerStats } from "../events.ts";
import type { Connection } from "../connection.ts";

/** Counters at zero: a new server's, or the start of a sum over several. */
export function zeroStats(): Omit<ServerStats, "uptimeMs"> {
  return {
    connections: 0,
    active: 0,
    messages: 0,
    bytesIn: 0,
    bytesOut: 0,
    errors: 0,
    idleTimeouts: 0,
    closedAtShutdown: 0,
    refused: 0,
    messageTimeouts: 0,
    overPeerLimit: 0,
  };
}

/** Adds a closed connection's traffic and its reason to `stats`. */
export function countClosed(
  stats: Omit<ServerStats, "active" | "uptimeMs">,
  connection: Connection,
  reason: CloseReason,
): void {
  stats.messages += connection.messages;
  stats.bytesIn += connection.bytesIn;
  stats.bytesOut += connection.bytesOut;
  if (reason === "reset" || reason === "error") stats.errors++;
  else if (reason === "idle") stats.idleTimeouts++;
  // Refused by its PROXY header: counted as refused (when reported) and,
  // like a peer refused by its socket's address, not as a connection.
  else if (reason === "refused") stats.connections--;
  else if (reason === "shutdown") stats.closedAtShutdown++;
  else if (reason === "message-timeout") stats.messageTimeouts++;
}
