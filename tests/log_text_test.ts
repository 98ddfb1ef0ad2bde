/**
 * Every text field of every event, not only a message's bytes, reaches the
 * log escaped: error texts quote a peer's bytes, and a Unix peer names its
 * own path.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  escapeText,
  formatEvent,
  formatEventJson,
  type ServerEvent,
  toPlainText,
} from "../lib/mod.ts";
import { hasProgram, LineReader } from "./_process.ts";
import { scriptCommand } from "./_scripts.ts";

/** C0, DEL, C1, bidi, zero-width, line separator, private use, a lone surrogate. */
const HOSTILE = "a\x1b[2J\x07\r\n\x7f\u009b\u202e\u200b\u2028\ue000\ud800z\\x";
// deno-lint-ignore no-control-regex
const RAW = /[\x00-\x1f\x7f\u0080-\u009f\u200b\u2028\u202e\ue000\ud800]/;

Deno.test("escapeText() escapes controls and invisible code points, keeps the rest", () => {
  assert.equal(
    escapeText(HOSTILE),
    "a\\x1b[2J\\x07\\r\\n\\x7f\\u{009b}\\u{202e}\\u{200b}\\u{2028}\\u{e000}\\u{d800}z\\x",
  );
  const plain = "127.0.0.1:50770 — héllo 東京";
  assert.equal(escapeText(plain), plain);
});

const time = Date.UTC(2026, 10, 25);
const events: ServerEvent[] = [
  {
    type: "close",
    time,
    id: 1,
    peer: "127.0.0.1:1",
    reason: "error",
    messages: 0,
    bytesIn: 1,
    bytesOut: 0,
    durationMs: 1,
    error: HOSTILE,
  },
  {
    type: "close",
    time,
    id: 1,
    peer: "127.0.0.1:1",
    reason: "reset",
    messages: 0,
    bytesIn: 1,
    bytesOut: 0,
    durationMs: 1,
    error: HOSTILE,
  },
  { type: "accept-error", time, error: HOSTILE, peerGone: true, retryInMs: 0 },
  { type: "accept-error", time, error: HOSTILE, peerGone: false, retryInMs: 10 },
  { type: "refused", time, peer: HOSTILE, rule: HOSTILE },
];

Deno.test("formatEvent() and formatEventJson() escape every text field", () => {
  for (const event of events) {
    const readable = toPlainText(formatEvent(event)!);
    assert.doesNotMatch(readable, RAW, `${event.type}: ${readable}`);
    assert.match(readable, /\\x1b\[2J/);
    const json = formatEventJson(event);
    // JSON.parse undoes JSON's own escapes: what a log reader gets back.
    const parsed = JSON.stringify(Object.values(JSON.parse(json)));
    assert.doesNotMatch(JSON.parse(parsed).join(" "), RAW, `${event.type}: ${json}`);
    assert.doesNotMatch(json, /[\u0080-\u009f\u2028\u202e]/);
  }
});

Deno.test({
  name: "server.ts --unix logs a peer's own socket path escaped, an unnamed one as unnamed",
  ignore: !(await hasProgram("python3")),
  async fn() {
    const dir = await new Deno.Command("mktemp", { args: ["-d"] }).output();
    const folder = new TextDecoder().decode(dir.stdout).trim();
    const path = `${folder}/lab.sock`;
    const child = scriptCommand("server.ts", ["--unix", path], {
      permissions: [`--allow-read=${path}`, `--allow-write=${path}`, `--allow-net=unix:${path}`],
    }).spawn();
    const stdout = new LineReader(child.stdout);
    const stderr = new Response(child.stderr).text();
    try {
      await stdout.until((line) => line.startsWith("Listening on"));
      // One client binds its socket to a path with an escape sequence in it.
      const { success, stderr: pythonErrors } = await new Deno.Command("python3", {
        args: [
          "-c",
          `
import socket, sys
for name in [None, sys.argv[2]]:
    s = socket.socket(socket.AF_UNIX)
    if name: s.bind(name)
    s.connect(sys.argv[1])
    s.sendall(b"Hai from client")
    s.recv(100)
    s.close()
`,
          path,
          `${folder}/peer\x1b[31m.sock`,
        ],
      }).output();
      assert.ok(success, new TextDecoder().decode(pythonErrors));
      assert.equal(
        await stdout.until((line) => line.startsWith("Got connection")),
        `Got connection from unnamed peer on unix:${path}`,
      );
      assert.equal(
        await stdout.until((line) => line.startsWith("Got connection")),
        `Got connection from unix:${folder}/peer\\x1b[31m.sock`,
      );
    } finally {
      child.kill("SIGTERM");
      await Promise.all([child.status, stdout.rest(), stderr]);
      await new Deno.Command("rm", { args: ["-rf", folder] }).output();
    }
  },
});

Deno.test("formatEvent() says what an idle close cut short, when it says", () => {
  const close = (error?: string): ServerEvent => ({
    type: "close",
    time,
    id: 1,
    peer: "127.0.0.1:1",
    reason: "idle",
    messages: 0,
    bytesIn: 9,
    bytesOut: 0,
    durationMs: 600,
    ...(error === undefined ? {} : { error }),
  });
  assert.equal(toPlainText(formatEvent(close())!), "127.0.0.1:1: idle for 600ms, closed");
  assert.equal(
    toPlainText(formatEvent(close("no whole PROXY header within the idle timeout (9 bytes)"))!),
    "127.0.0.1:1: no whole PROXY header within the idle timeout (9 bytes), closed",
  );
});
