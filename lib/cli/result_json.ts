/**
 * The client's `--json` result, produced piece by piece.
 *
 * `JSON.stringify` of the whole result needs the reply as one string, and
 * its escaped form as another: a 100 MiB reply of control bytes escapes to
 * 600 million characters, past V8's longest string ("Invalid string
 * length"), and building base64 through an array of characters exhausted
 * the heap. Here the reply is decoded, escaped and base64-encoded a slice at
 * a time, so any reply the client accepted can be printed.
 *
 * @module
 */

import type { SendMessageResult } from "../client.ts";
import { writeAll } from "../_io.ts";
import { withContext } from "../_errors.ts";

/** Bytes per slice: a multiple of 3, so base64 slices join without padding. */
const SLICE_BYTES = 3 * 256 * 1024;

function isUtf8(bytes: Uint8Array): boolean {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
      decoder.decode(bytes.subarray(at, at + SLICE_BYTES), { stream: true });
    }
    decoder.decode();
    return true;
  } catch {
    return false;
  }
}

const BASE64 = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
);

/**
 * Base64 by table: `btoa` needs a binary string first, and building one
 * with `String.fromCharCode` took 3.4 s for 100 MiB; this takes a tenth.
 */
function base64(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let at = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[at++] = BASE64[n >> 18];
    out[at++] = BASE64[(n >> 12) & 63];
    out[at++] = BASE64[(n >> 6) & 63];
    out[at++] = BASE64[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8);
    out[at++] = BASE64[n >> 18];
    out[at++] = BASE64[(n >> 12) & 63];
    out[at++] = i + 1 < bytes.length ? BASE64[(n >> 6) & 63] : 0x3d;
    out[at++] = 0x3d;
  }
  return new TextDecoder().decode(out);
}

/**
 * The result as one line of JSON, in pieces to write one after another:
 * `reply` as UTF-8 text, `replyBase64` as well when the reply is not valid
 * UTF-8, then the byte counts, timings and addresses.
 */
export function* resultJson(
  result: Pick<SendMessageResult, "reply" | "bytesReceived"> & Partial<SendMessageResult>,
  error?: string,
): Generator<string> {
  const { reply } = result;
  yield '{"reply":"';
  const decoder = new TextDecoder();
  for (let at = 0; at < reply.length; at += SLICE_BYTES) {
    const text = decoder.decode(reply.subarray(at, at + SLICE_BYTES), { stream: true });
    yield JSON.stringify(text).slice(1, -1);
  }
  yield JSON.stringify(decoder.decode()).slice(1, -1);
  yield '"';
  if (!isUtf8(reply)) {
    yield ',"replyBase64":"';
    for (let at = 0; at < reply.length; at += SLICE_BYTES) {
      yield base64(reply.subarray(at, at + SLICE_BYTES));
    }
    yield '"';
  }
  const round = (ms: number | null | undefined) => ms == null ? ms : Math.round(ms * 1000) / 1000;
  const rest = JSON.stringify({
    bytesSent: result.bytesSent,
    bytesReceived: result.bytesReceived,
    connectMs: round(result.connectMs),
    firstByteMs: round(result.firstByteMs),
    totalMs: round(result.totalMs),
    local: result.localAddress,
    remote: result.remoteAddress,
    error,
  });
  yield `,${rest.slice(1)}\n`;
}

/** Writes {@linkcode resultJson}'s pieces to standard output, one after another. */
export async function writeResultJson(
  result: Parameters<typeof resultJson>[0],
  error?: string,
): Promise<void> {
  const encoder = new TextEncoder();
  try {
    for (const piece of resultJson(result, error)) {
      await writeAll(Deno.stdout, encoder.encode(piece));
    }
  } catch (cause) {
    // Named as the plain client names it: stdout failed, not the connection.
    throw withContext(cause, "Cannot write the reply");
  }
}

/**
 * Where `--json` keeps the reply as it arrives, so that an exchange that
 * fails after a reply began still prints what came, with its error.
 */
export function collectReply(): { write(chunk: Uint8Array): Promise<void>; bytes(): Uint8Array } {
  const chunks: Uint8Array[] = [];
  let length = 0;
  return {
    write(chunk) {
      chunks.push(chunk.slice());
      length += chunk.length;
      return Promise.resolve();
    },
    bytes() {
      const whole = new Uint8Array(length);
      let offset = 0;
      for (const chunk of chunks) {
        whole.set(chunk, offset);
        offset += chunk.length;
      }
      return whole;
    },
  };
}
