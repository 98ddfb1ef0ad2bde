import assert from "node:assert/strict";
import {
  formatBytes,
  formatDuration,
  formatEvent,
  formatEventJson,
  type ServerEvent,
  toPlainText,
} from "../lib/mod.ts";
import { toConsoleArgs } from "../lib/log/format.ts";

const message = (text: string | Uint8Array, bytes?: number, sequence = 1): ServerEvent => {
  const data = typeof text === "string" ? new TextEncoder().encode(text) : text;
  return {
    type: "message",
    time: Date.UTC(2026, 10, 25),
    id: 7,
    peer: "127.0.0.1:50770",
    data,
    bytes: bytes ?? data.length,
    end: "chunk",
    sequence,
  };
};

Deno.test("formatEvent() prints the lab's two lines for a message", () => {
  assert.equal(
    toPlainText(formatEvent(message("Hai from client"))!),
    "Got connection from 127.0.0.1:50770\nHai from client",
  );
});

Deno.test("formatEvent() names the peer once per connection, before its first message", () => {
  const second: ServerEvent = message("second line\n", undefined, 2);
  assert.equal(
    toPlainText(formatEvent(message("first line\n"))!),
    "Got connection from 127.0.0.1:50770\nfirst line\\n",
  );
  assert.equal(toPlainText(formatEvent(second)!), "second line\\n");
  assert.equal(JSON.parse(formatEventJson(second)).sequence, 2);
});

Deno.test("formatEvent() leaves out accepts, replies and normal closes", () => {
  const base = { time: 0, id: 1, peer: "127.0.0.1:1" };
  assert.equal(formatEvent({ ...base, type: "connection" }), undefined);
  assert.equal(formatEvent({ ...base, type: "reply", bytes: 21 }), undefined);
  const close = {
    ...base,
    type: "close",
    messages: 1,
    bytesIn: 1,
    bytesOut: 1,
    durationMs: 1,
  } as const;
  assert.equal(formatEvent({ ...close, reason: "done" }), undefined);
  assert.match(
    toPlainText(formatEvent({ ...close, reason: "idle", durationMs: 30_000 })!),
    /idle for 30s/,
  );
});

Deno.test("formatEvent() cuts long messages and says how much is left", () => {
  const text = toPlainText(formatEvent(message("x".repeat(5000)))!);
  assert.match(text, /x{4096} … \(904 more bytes\)$/);
  const streamed = toPlainText(formatEvent(message("head", 1_000_004))!);
  assert.match(streamed, /head … \(1,000,000 more bytes\)$/);
});

Deno.test("toConsoleArgs() doubles % so a peer cannot inject format directives", () => {
  const [format] = toConsoleArgs(formatEvent(message("%c%s%o"))!);
  assert.match(format, /%%c%%s%%o/);
});

Deno.test("formatEventJson() writes one line of valid JSON with escaped bytes", () => {
  const line = formatEventJson(message(new Uint8Array([0x1b, 0x5b, 0x32, 0x4a, 0x00, 0xff, 0x0a])));
  assert.doesNotMatch(line, /\n/);
  const record = JSON.parse(line);
  assert.equal(record.event, "message");
  assert.equal(record.time, "2026-11-25T00:00:00.000Z");
  assert.equal(record.peer, "127.0.0.1:50770");
  assert.equal(record.message, "\\x1b[2J\\x00\\xff\\n");
  assert.equal(record.bytes, 7);
  assert.equal(record.data, undefined);
});

Deno.test("formatBytes() and formatDuration() use readable units", () => {
  assert.equal(formatBytes(0), "0 bytes");
  assert.equal(formatBytes(1500), "1.5 kB");
  assert.equal(formatBytes(64_000_000), "64 MB");
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(2500), "2.5s");
  assert.equal(formatDuration(180_000), "3 min");
});

Deno.test("formatEvent() says who reset and why", () => {
  const line = toPlainText(
    formatEvent({
      type: "close",
      time: 0,
      id: 3,
      peer: "[::1]:40000",
      reason: "reset",
      messages: 0,
      bytesIn: 11,
      bytesOut: 0,
      durationMs: 2,
      error: "Broken pipe (os error 32)",
    })!,
  );
  assert.equal(line, "[::1]:40000: reset by the peer (Broken pipe (os error 32))");
});
