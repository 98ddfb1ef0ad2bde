/**
 * What a connection counts and tells its observers: the message, the reply
 * and the close. Events are built only when someone listens for them, and
 * a message's bytes are handed over without a copy where that is safe.
 *
 * @module
 */

import type { CloseReason, ConnectionCloseEvent, MessageEnd } from "../events.ts";
import type { Connection } from "../connection.ts";

/** Counts a message received and reports it. */
export function received(c: Connection, data: Uint8Array, bytes: number, end: MessageEnd): void {
  c.messages++;
  if (!c.emit || !c.wants.message) return;
  c.emit({
    type: "message",
    time: Date.now(),
    id: c.id,
    peer: c.peer,
    data: forObserver(c, data),
    bytes,
    end,
    sequence: c.messages,
  });
}

/** Records that a whole reply went out, and reports it. */
export function sent(c: Connection, bytes: number): void {
  c.replied = true;
  c.messageStartedAt = -1;
  if (c.wants.reply) {
    c.emit?.({ type: "reply", time: Date.now(), id: c.id, peer: c.peer, bytes });
  }
}

/** Reports the close, unless it is a normal end that no one asked to hear about. */
export function reportClose(c: Connection, reason: CloseReason, errorText?: string): void {
  if (!c.emit || !c.wants.close || (reason === "done" && c.wants.closeDone === false)) return;
  const event: ConnectionCloseEvent = {
    type: "close",
    time: Date.now(),
    id: c.id,
    peer: c.peer,
    reason,
    messages: c.messages,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    durationMs: performance.now() - c.startedAt,
  };
  if (reason === "idle" && c.idleMs !== undefined) event.idleMs = c.idleMs;
  if (errorText !== undefined) event.error = errorText;
  else if (c.closeNote !== undefined) event.error = c.closeNote;
  c.emit(event);
}

/**
 * The message's bytes for an observer, who may keep them. A view of the
 * first read's buffer is copied when small, which is cheap (V8 keeps
 * arrays of up to 64 bytes in its own heap), so the buffer can still be
 * reused; a larger one is handed over, and its buffer is not reused.
 */
function forObserver(c: Connection, data: Uint8Array): Uint8Array {
  const { previewBytes = Infinity } = c.settings;
  // A bounded preview is a copy: every buffer stays this connection's.
  if (previewBytes !== Infinity) return data.slice(0, previewBytes);
  if (data.buffer !== c.firstReadBuffer?.buffer) {
    if (data.buffer === c.ownBuffer) c.ownBuffer = undefined;
    return data;
  }
  if (data.length <= 64) return data.slice();
  c.firstReadBuffer = undefined;
  return data;
}
