/**
 * The lingering close. Closing a socket with unread input makes the kernel
 * send a reset instead of a FIN, and a reset can destroy the reply before
 * the client has read it. So when input may remain, the server half-closes
 * (FIN), reads and discards until the client closes, and only then closes,
 * within `lingerTimeout` and `LINGER_MAX_BYTES` at most.
 *
 * @module
 */

import { READ_CHUNK_BYTES } from "../framing.ts";
import type { Connection } from "../connection.ts";

/** After the reply, what the lingering close reads and discards at most. */
const LINGER_MAX_BYTES = 256 * 1024;

/** Lingering discards what it reads, so every connection can share one buffer. */
const discardBuffer = new Uint8Array(READ_CHUNK_BYTES);

/** Sends FIN, then reads and discards until the client closes, for a short while at most. */
export async function linger(c: Connection): Promise<void> {
  const timer = setTimeout(() => c.closeSocket(), c.settings.lingerMs);
  try {
    await c.conn.closeWrite();
    let drained = 0;
    while (drained < LINGER_MAX_BYTES) {
      const count = await c.conn.read(discardBuffer);
      if (count === null) break;
      drained += count;
      c.bytesIn += count;
    }
  } catch {
    // The reply is already written; a peer that resets or vanishes now, or
    // the linger timer closing the socket, changes nothing for it.
  } finally {
    clearTimeout(timer);
  }
}
