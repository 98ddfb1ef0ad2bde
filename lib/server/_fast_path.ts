/**
 * The fast path: the first read already holds the whole message, which is
 * the common case (the lab's `"chunk"` framing, or a client that closed).
 * It answers in the fewest steps, and starts the reply before the message
 * is reported, so whatever an observer does (a log line, say) delays no
 * client.
 *
 * @module
 */

import { FIRST_READ_BYTES } from "../framing.ts";
import type { MessageEnd } from "../events.ts";
import type { Connection, Outcome } from "../connection.ts";
import { writeAll } from "../_io.ts";
import { received, sent } from "./_reports.ts";

/** Answers a message that the first read completed: at EOF, or in chunk framing. */
export async function answerFirstRead(
  c: Connection,
  message: Uint8Array,
  atEof: boolean,
): Promise<Outcome> {
  const end: MessageEnd = atEof
    ? "eof"
    : message.length >= c.settings.maxMessageBytes
    ? "limit"
    : "chunk";
  const answer = c.settings.echo ? message : c.settings.reply;
  const writing = c.conn.write(answer);
  received(c, message, message.length, end);
  const written = await writing;
  c.onWrite(written);
  if (written < answer.length) {
    await writeAll(c.conn, answer.subarray(written), c.onWrite);
  }
  sent(c, answer.length);
  // A first read that filled its whole buffer may have left input unread.
  return {
    end,
    unreadInputLikely: end === "limit" || (end === "chunk" && message.length >= FIRST_READ_BYTES),
  };
}
