/**
 * The idle timeout and the message deadline, for every connection at once.
 *
 * A timer per connection would be armed and cleared on every exchange,
 * which costs more than the exchange's own logic. Instead each connection
 * records when a byte last moved and when its message began, and one
 * periodic sweep closes those past either deadline.
 *
 * @module
 */

import type { Connection } from "../connection.ts";
import { hasTimeout, sweepPeriod } from "../_time.ts";

/**
 * Starts sweeping `open` for connections idle for `idleTimeoutMs`, or whose
 * message began `messageTimeoutMs` ago; `0` turns either off. Returns the
 * function that stops the sweep.
 */
export function sweepDeadlines(
  open: Iterable<Connection>,
  idleTimeoutMs: number,
  messageTimeoutMs: number,
): () => void {
  const idleMs = hasTimeout(idleTimeoutMs) ? idleTimeoutMs : Infinity;
  const messageMs = hasTimeout(messageTimeoutMs) ? messageTimeoutMs : Infinity;
  const shortest = Math.min(idleMs, messageMs);
  if (shortest === Infinity) return () => {};
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of open) {
      if (now - connection.lastActivity >= idleMs) connection.close("idle");
      else if (
        connection.messageStartedAt >= 0 && now - connection.messageStartedAt >= messageMs
      ) {
        connection.close("message-timeout");
      }
    }
  }, sweepPeriod(shortest));
  return () => clearInterval(sweep);
}
