/**
 * Renders bytes from a peer as text that is safe to show on a terminal.
 *
 * A peer controls every byte it sends. Printed raw, a message could move the
 * cursor, clear the screen, retitle the window or hide text behind bidi
 * overrides. So everything that is not printable, valid UTF-8 is shown as an
 * escape, and a backslash is doubled so that an escape can never be forged.
 *
 * @module
 */

/** Options for {@linkcode escapeBytes}. */
export interface EscapeOptions {
  /**
   * Show at most this many bytes; the rest is summarised as
   * `… (N more bytes)`. This is the only place output is cut: the log's
   * message previews come through here too.
   *
   * @default {Infinity}
   */
  maxBytes?: number;
  /**
   * How long the whole message was, when `bytes` holds only its start (a
   * server keeps just the start of a long message for its log): the summary
   * counts the rest from here.
   *
   * @default {bytes.length}
   */
  totalBytes?: number;
}

const NAMED_ESCAPES: Record<number, string> = {
  0x09: "\\t",
  0x0a: "\\n",
  0x0d: "\\r",
  0x5c: "\\\\",
};

/**
 * Code points that are valid but control, reorder or hide text on a
 * terminal: C1 controls (Cc), format characters such as zero-width and bidi
 * marks and tag characters (Cf), line and paragraph separators (Zl, Zp),
 * private-use (Co) and unassigned (Cn) code points.
 */
const INVISIBLE = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]$/u;

function isInvisibleControl(codePoint: number): boolean {
  return INVISIBLE.test(String.fromCodePoint(codePoint));
}

/** Shared: decoding never keeps state between calls (no `stream: true`). */
const decoder = new TextDecoder();

function hexByte(byte: number): string {
  return "\\x" + byte.toString(16).padStart(2, "0");
}

/** Length of the valid UTF-8 sequence starting at `index`, or 0 if invalid. */
function utf8SequenceLength(bytes: Uint8Array, index: number, end: number): number {
  const lead = bytes[index];
  let length: number;
  let min: number;
  if (lead >= 0xc2 && lead <= 0xdf) [length, min] = [2, 0x80];
  else if (lead >= 0xe0 && lead <= 0xef) [length, min] = [3, 0x800];
  else if (lead >= 0xf0 && lead <= 0xf4) [length, min] = [4, 0x10000];
  else return 0;
  if (index + length > end) return 0;
  let codePoint = lead & (0xff >> (length + 1));
  for (let i = 1; i < length; i++) {
    const next = bytes[index + i];
    if ((next & 0xc0) !== 0x80) return 0;
    codePoint = (codePoint << 6) | (next & 0x3f);
  }
  // Reject overlong forms, surrogates and code points past U+10FFFF.
  if (codePoint < min || codePoint > 0x10ffff) return 0;
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return 0;
  return length;
}

/**
 * Turns bytes received from a peer into one line of printable text.
 *
 * Printable UTF-8 passes through unchanged. Tab, newline, carriage return and
 * backslash become `\t`, `\n`, `\r`, `\\`; other control characters and bytes
 * that are not valid UTF-8 become `\xNN`; C1 controls, format characters
 * (zero-width, bidi and tag characters), line and paragraph separators,
 * private-use and unassigned code points become `\u{NNNN}`.
 *
 * @example Escaping a terminal escape sequence
 * ```ts
 * import { escapeBytes } from "./escape.ts";
 *
 * const bytes = new TextEncoder().encode("hi\x1b[2J\n");
 * console.log(escapeBytes(bytes)); // hi\x1b[2J\n
 * ```
 *
 * @param bytes The bytes to render.
 * @param options How much to render.
 * @returns The escaped text, on one line.
 */
export function escapeBytes(bytes: Uint8Array, options: EscapeOptions = {}): string {
  const { maxBytes = Infinity, totalBytes = bytes.length } = options;
  const end = Math.min(bytes.length, maxBytes);
  let out = "";
  let runStart = 0; // start of a run of bytes that pass through unchanged
  const flushRun = (runEnd: number) => {
    if (runEnd > runStart) out += decoder.decode(bytes.subarray(runStart, runEnd));
  };
  let index = 0;
  while (index < end) {
    const byte = bytes[index];
    if (byte >= 0x20 && byte < 0x7f && byte !== 0x5c) {
      index++;
      continue;
    }
    let escape: string | undefined;
    let length = 1;
    if (byte < 0x80) {
      escape = NAMED_ESCAPES[byte] ?? hexByte(byte);
    } else {
      length = utf8SequenceLength(bytes, index, end);
      if (length === 0) {
        length = 1;
        escape = hexByte(byte);
      } else {
        const codePoint = decoder.decode(bytes.subarray(index, index + length)).codePointAt(0)!;
        if (isInvisibleControl(codePoint)) {
          escape = `\\u{${codePoint.toString(16).padStart(4, "0")}}`;
        }
      }
    }
    if (escape !== undefined) {
      flushRun(index);
      out += escape;
      runStart = index + length;
    }
    index += length;
  }
  flushRun(end);
  const rest = Math.max(totalBytes, bytes.length) - end;
  if (rest > 0) out += ` … (${rest.toLocaleString("en")} more byte${rest === 1 ? "" : "s"})`;
  return out;
}

/** What {@linkcode escapeText} escapes: controls and every invisible code point, lone surrogates too. */
const UNSAFE_TEXT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Cs}]/u;

/**
 * Makes text that may hold a peer's bytes, such as an error message that
 * quotes them, safe to print on one line: control characters become `\t`,
 * `\n`, `\r` or `\xNN`, and C1 controls, format characters (zero-width and
 * bidi), line and paragraph separators, private-use, unassigned and lone
 * surrogate code points become `\u{NNNN}`, as {@linkcode escapeBytes} shows
 * them. Backslashes are left alone: this is for text whose own escapes must
 * survive; a peer's raw bytes go through `escapeBytes`.
 *
 * @example Neutralising a bidi override and an escape sequence
 * ```ts
 * import { escapeText } from "./escape.ts";
 *
 * console.log(escapeText("bad \u202eheader\x1b[2J")); // bad \u{202e}header\x1b[2J
 * ```
 *
 * @param text The text to render.
 * @returns The text, unchanged when it was already safe.
 */
export function escapeText(text: string): string {
  if (!UNSAFE_TEXT.test(text)) return text;
  let out = "";
  for (const char of text) {
    if (!UNSAFE_TEXT.test(char)) {
      out += char;
      continue;
    }
    const codePoint = char.codePointAt(0)!;
    out += codePoint < 0x80
      ? (NAMED_ESCAPES[codePoint] ?? hexByte(codePoint))
      : `\\u{${codePoint.toString(16).padStart(4, "0")}}`;
  }
  return out;
}
