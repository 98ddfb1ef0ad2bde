/**
 * Message framing: where one message ends in a TCP byte stream.
 *
 * TCP delivers bytes, not messages; one `write` can arrive as several reads
 * and several writes as one. The lab server took whatever its single
 * `recv(1024)` returned. That is kept as the default (`"chunk"`), beside two
 * framings that never cut a message short: up to a newline, and up to the
 * peer's half-close. Every framing also stops at EOF and at the size limit.
 *
 * @module
 */

import type { MessageEnd } from "./events.ts";

/**
 * How the server decides that a message is complete.
 *
 * - `"chunk"`: whatever the first read returns, at most 1 KiB like the lab's
 *   `recv(1024)` (a client that waits for the reply without half-closing is
 *   answered at once).
 * - `"line"`: up to and including the first `\n`.
 * - `"eof"`: everything until the client half-closes its side.
 */
export type Framing = "chunk" | "line" | "eof";

/** Every framing, for validating user input. */
export const FRAMINGS: readonly Framing[] = ["chunk", "line", "eof"];

/**
 * The first read's size: the lab's `recv(1024)`. A connection that waits for
 * its first byte holds only this much, so ten thousand idle clients cost ten
 * megabytes of buffers, not six hundred. The `"chunk"` framing's message is
 * what this read returns.
 */
export const FIRST_READ_BYTES = 1024;

/** The largest single read once a message is flowing; the buffer grows to it by doubling. */
export const READ_CHUNK_BYTES = 64 * 1024;

/**
 * Past the first read, a message grows inside one resizable buffer that
 * reserves address space for the limit, up to this much (past it, a message
 * grows by copying). Such a buffer grows in place, and its memory goes back
 * to the system the moment it is freed. Memory from the ordinary allocator
 * stayed with the process after the connections were gone: 300 connections
 * with 1 MiB each left up to 340 MiB behind, 140 MiB even when freed at once.
 */
const RESERVE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Frees a buffer's memory now, detaching it, rather than when the garbage
 * collector gets to it. Only for buffers no one else holds a view of.
 */
export function freeBuffer(buffer: ArrayBuffer): void {
  if (!buffer.detached && buffer.byteLength > FIRST_READ_BYTES) buffer.transferToFixedLength(0);
}

/** A resizable buffer, or a plain one where address space cannot be reserved. */
function reserve(size: number, maxByteLength: number): ArrayBuffer {
  try {
    return new ArrayBuffer(size, { maxByteLength });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return new ArrayBuffer(size);
  }
}

/** Something to read from, such as a `Deno.Conn`. */
export interface ByteReader {
  /** Reads into `p`, resolving to the count read, or `null` at EOF. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Options for {@linkcode readMessage}. */
export interface ReadMessageOptions {
  /**
   * Where the message ends.
   *
   * @default {"chunk"}
   */
  framing?: Framing;
  /**
   * The largest message; reading stops once this many bytes have arrived.
   *
   * @default {1048576}
   */
  maxBytes?: number;
  /**
   * Bytes already read that begin this message, such as the previous line's
   * `leftover`, or a first read done before the framing mattered. Their
   * buffer is taken over: it is filled on and may be replaced as it grows.
   */
  start?: Uint8Array;
  /** Called after every read with the count read, so a caller can track activity. */
  onRead?: (count: number) => void;
}

/** A message read by {@linkcode readMessage}. */
export interface ReceivedMessage {
  /** The message's bytes; for `"line"`, including the newline. */
  data: Uint8Array;
  /** How it ended. */
  end: MessageEnd;
  /** For `"line"`: bytes read past the newline, the start of the next message. */
  leftover?: Uint8Array;
}

/**
 * Reads one message from `reader`.
 *
 * Uses `read()` in a loop rather than `conn.readable`: in Deno 2 a readable
 * stream that reaches EOF closes the whole connection, and the reply could
 * then not be sent after the client half-closes.
 *
 * @example Reading one line
 * ```ts
 * import { readMessage } from "./framing.ts";
 *
 * const bytes = new TextEncoder().encode("hello\nworld");
 * let done = false;
 * const reader = {
 *   read(p: Uint8Array) {
 *     if (done) return Promise.resolve(null);
 *     done = true;
 *     p.set(bytes);
 *     return Promise.resolve(bytes.length);
 *   },
 * };
 * const message = await readMessage(reader, { framing: "line" });
 * console.log(new TextDecoder().decode(message.data)); // "hello\n"
 * ```
 *
 * @param reader Where to read from.
 * @param options The framing and the size limit.
 * @returns The message and how it ended.
 */
export async function readMessage(
  reader: ByteReader,
  options: ReadMessageOptions = {},
): Promise<ReceivedMessage> {
  const { framing = "chunk", maxBytes = 1024 * 1024, start: begun, onRead } = options;
  // Reading continues in the buffer that holds the bytes so far, past them.
  let buffer = begun
    ? new Uint8Array(begun.buffer, begun.byteOffset, begun.buffer.byteLength - begun.byteOffset)
    : new Uint8Array(Math.max(1, Math.min(maxBytes, FIRST_READ_BYTES)));
  let length = begun?.length ?? 0;
  // Whether `buffer` is ours to free: not the caller's start buffer.
  let owned = !begun;
  /** Whether the bytes from `start` to `length` complete a message, and how. */
  const complete = (start: number): ReceivedMessage | undefined => {
    if (framing === "line") {
      const newline = buffer.subarray(start, length).indexOf(0x0a);
      if (newline !== -1) {
        const end = start + newline + 1;
        return {
          data: buffer.subarray(0, end),
          end: "newline",
          leftover: buffer.slice(end, length),
        };
      }
    }
    if (length >= maxBytes) return { data: buffer.subarray(0, length), end: "limit" };
    if (framing === "chunk" && length > 0) {
      return { data: buffer.subarray(0, length), end: "chunk" };
    }
    return undefined;
  };
  if (length > 0) {
    const message = complete(0);
    if (message) return message;
  }
  while (true) {
    if (length >= buffer.length) {
      // Grow by doubling, never past the limit: memory follows what arrived.
      const size = Math.min(
        Math.max(buffer.length * 2, FIRST_READ_BYTES),
        Math.max(maxBytes, length),
      );
      const reserved = buffer.buffer as ArrayBuffer;
      if (owned && reserved.resizable && size <= reserved.maxByteLength) {
        reserved.resize(size); // in place: nothing to copy, nothing left behind
        buffer = new Uint8Array(reserved, 0, size);
      } else {
        const grown = new Uint8Array(
          size <= RESERVE_MAX_BYTES
            ? reserve(size, Math.min(Math.max(maxBytes, size), RESERVE_MAX_BYTES))
            : new ArrayBuffer(size),
        );
        grown.set(buffer.subarray(0, length));
        if (owned) freeBuffer(buffer.buffer as ArrayBuffer);
        buffer = grown;
        owned = true;
      }
    }
    const wanted = Math.min(buffer.length - length, READ_CHUNK_BYTES);
    let count: number | null;
    try {
      count = await reader.read(buffer.subarray(length, length + wanted));
    } catch (error) {
      // The message is lost with the connection: free what it had filled.
      if (owned) freeBuffer(buffer.buffer as ArrayBuffer);
      throw error;
    }
    if (count === null) return { data: buffer.subarray(0, length), end: "eof" };
    onRead?.(count);
    const start = length;
    length += count;
    const message = complete(start);
    if (message) return message;
  }
}
