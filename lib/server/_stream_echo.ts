/**
 * The streamed echo (`echo` with the `"eof"` framing): bytes go back as they
 * come, one reused buffer at a time, until the client half-closes, so a
 * stream of any size passes through without being held whole in memory.
 *
 * @module
 */

import { READ_CHUNK_BYTES } from "../framing.ts";
import type { MessageEnd } from "../events.ts";
import type { Connection, Outcome } from "../connection.ts";
import { writeAll } from "../_io.ts";
import { received, sent } from "./_reports.ts";

/**
 * Echoes until the client half-closes. The buffer is allocated only after
 * the first byte has arrived (`begun`): an idle client holds no more than
 * one waiting for its first message would.
 */
export async function streamEcho(c: Connection, begun: Uint8Array): Promise<Outcome> {
  const { maxMessageBytes } = c.settings;
  // The first chunk goes back before reading more, in a buffer big enough to flow.
  await writeAll(c.conn, begun, c.onWrite);
  const firstChunk = begun.slice();
  let total = begun.length;
  const buffer = new Uint8Array(Math.min(maxMessageBytes, READ_CHUNK_BYTES));
  c.ownBuffer = buffer.buffer;
  let end: MessageEnd = "eof";
  while (true) {
    const room = Math.min(buffer.length, maxMessageBytes - total);
    if (room <= 0) {
      end = "limit";
      break;
    }
    const count = await c.conn.read(buffer.subarray(0, room));
    if (count === null) break;
    c.onRead(count);
    total += count;
    await writeAll(c.conn, buffer.subarray(0, count), c.onWrite);
  }
  received(c, firstChunk, total, end);
  sent(c, total);
  return { end, unreadInputLikely: end === "limit" };
}
