/**
 * A connection's buffers. The 1 KiB first-read buffers are pooled:
 * finished connections give theirs back and new ones take one instead of
 * allocating, since allocating and collecting one per connection is a
 * measurable share of the whole exchange under load (see the benchmark
 * notes in the README). Larger buffers (a grown message, the streamed
 * echo's) are freed as soon as they are done with.
 *
 * A buffer is reused or freed only when no observer holds a view of it
 * (see `_reports.ts`); the pool holds at most 1 MiB.
 *
 * @module
 */

import { FIRST_READ_BYTES, freeBuffer } from "../framing.ts";
import type { Connection } from "../connection.ts";

const spare: Uint8Array[] = [];
const SPARE_MAX = 1024;

/** A buffer for a connection's first read: a spare one when the size is the usual one. */
export function takeFirstReadBuffer(maxMessageBytes: number): Uint8Array {
  const size = Math.max(1, Math.min(maxMessageBytes, FIRST_READ_BYTES));
  return (size === FIRST_READ_BYTES && spare.pop()) || new Uint8Array(size);
}

/**
 * Frees a large buffer's memory now. Left to the garbage collector, the
 * memory of connections that are gone can stay with the process for good:
 * an idle server allocates nothing, so nothing prompts a collection.
 */
export function releaseOwnBuffer(c: Connection): void {
  const buffer = c.ownBuffer;
  c.ownBuffer = undefined;
  if (buffer) freeBuffer(buffer);
}

/** Once every read is over: the first-read buffer back to the pool, a large one freed. */
export function releaseBuffers(c: Connection): void {
  releaseOwnBuffer(c);
  const buffer = c.firstReadBuffer;
  c.firstReadBuffer = undefined;
  if (buffer?.length === FIRST_READ_BYTES && spare.length < SPARE_MAX) spare.push(buffer);
}
