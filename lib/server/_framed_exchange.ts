/**
 * The exchange when the first read is not the whole message: read up to
 * the framing's end (a newline, the client's half-close), answer, and with
 * `keepAlive` go on line after line until the client closes.
 *
 * @module
 */

import { FIRST_READ_BYTES, readMessage, type ReceivedMessage } from "../framing.ts";
import type { Connection, Outcome } from "../connection.ts";
import { writeAll } from "../_io.ts";
import { received, sent } from "./_reports.ts";
import { releaseOwnBuffer } from "./_buffer_pool.ts";

/** Reads one whole message, then sends the reply or the message back; loops with `keepAlive`. */
export async function exchange(c: Connection, begun: Uint8Array): Promise<Outcome> {
  const { framing, maxMessageBytes, echo, keepAlive } = c.settings;
  let start: Uint8Array | undefined = begun;
  for (let served = 0;; served++) {
    const message: ReceivedMessage = await readMessage(c.conn, {
      framing,
      maxBytes: maxMessageBytes,
      onRead: c.onRead,
      start,
    });
    if (message.data.buffer !== c.firstReadBuffer?.buffer) {
      c.ownBuffer = message.data.buffer as ArrayBuffer;
    }
    // A keep-alive client that closes between lines is simply done.
    if (served > 0 && message.end === "eof" && message.data.length === 0) {
      return { end: "eof", unreadInputLikely: false };
    }
    received(c, message.data, message.data.length, message.end);
    const answer = echo ? message.data : c.settings.reply;
    await writeAll(c.conn, answer, c.onWrite);
    sent(c, answer.length);
    if (keepAlive && message.end === "newline") {
      releaseOwnBuffer(c);
      start = message.leftover;
      // Bytes past the newline begin the next message, and its deadline.
      if (start && start.length > 0) c.messageStartedAt = performance.now();
      continue;
    }
    // Input may still be waiting when the message stopped at the limit,
    // when the first read filled its whole buffer, or when bytes came after
    // the newline. Otherwise the client has sent all it meant to.
    const unreadInputLikely = message.end === "limit" ||
      (message.end === "chunk" && message.data.length >= FIRST_READ_BYTES) ||
      (message.end === "newline" && (message.leftover?.length ?? 0) > 0);
    return { end: message.end, unreadInputLikely };
  }
}
