import assert from "node:assert/strict";
import { escapeBytes } from "../lib/mod.ts";

const bytes = (...parts: (string | number[])[]) => {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "string") out.push(...new TextEncoder().encode(part));
    else out.push(...part);
  }
  return new Uint8Array(out);
};

Deno.test("escapeBytes() passes printable UTF-8 through unchanged", () => {
  assert.equal(escapeBytes(bytes("Hai from client")), "Hai from client");
  assert.equal(escapeBytes(bytes("naïve café ✓ 日本 🚀")), "naïve café ✓ 日本 🚀");
});

Deno.test("escapeBytes() escapes terminal control sequences and NUL", () => {
  assert.equal(escapeBytes(bytes("a\x1b[2Jb\x00c\x07\x7f")), "a\\x1b[2Jb\\x00c\\x07\\x7f");
  assert.equal(escapeBytes(bytes("tab\there\r\n")), "tab\\there\\r\\n");
  // An OSC sequence that would retitle the window
  assert.equal(escapeBytes(bytes("\x1b]0;pwned\x07")), "\\x1b]0;pwned\\x07");
});

Deno.test("escapeBytes() doubles backslashes so escapes cannot be forged", () => {
  assert.equal(escapeBytes(bytes("\\x1b")), "\\\\x1b");
});

Deno.test("escapeBytes() escapes invalid UTF-8 byte by byte", () => {
  assert.equal(escapeBytes(bytes([0xff, 0xfe])), "\\xff\\xfe");
  assert.equal(escapeBytes(bytes("ok", [0xc3])), "ok\\xc3"); // truncated sequence
  assert.equal(escapeBytes(bytes([0xc0, 0xaf])), "\\xc0\\xaf"); // overlong "/"
  assert.equal(escapeBytes(bytes([0xed, 0xa0, 0x80])), "\\xed\\xa0\\x80"); // surrogate
});

Deno.test("escapeBytes() escapes C1 controls and bidi overrides", () => {
  assert.equal(escapeBytes(bytes("\u009b31m")), "\\u{009b}31m"); // 8-bit CSI
  assert.equal(escapeBytes(bytes("abc\u202Edef")), "abc\\u{202e}def");
});

Deno.test("escapeBytes() shows at most maxBytes and counts the rest", () => {
  assert.equal(escapeBytes(bytes("abcdef"), { maxBytes: 2 }), "ab … (4 more bytes)");
});

Deno.test("escapeBytes() output never contains a control character", () => {
  const all = new Uint8Array(256).map((_, index) => index);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(escapeBytes(all), /[\x00-\x1f\x7f\u0080-\u009f]/);
});

Deno.test("escapeBytes() escapes every invisible format character, not just a list", () => {
  assert.equal(escapeBytes(bytes("a\u2060b")), "a\\u{2060}b"); // word joiner
  assert.equal(escapeBytes(bytes("a\u061cb")), "a\\u{061c}b"); // Arabic letter mark
  assert.equal(escapeBytes(bytes("a\u{e0068}b")), "a\\u{e0068}b"); // a tag character
  assert.equal(escapeBytes(bytes("a\u00adb\u2028c")), "a\\u{00ad}b\\u{2028}c");
});
