/**
 * `sendMessage()` against `serve()` over loopback: the lab's exchange, the
 * half-close, refusals and timeouts, the reply limit, option checks, and
 * aborts while connecting over TCP, TLS and Unix sockets. Streams are in
 * client_streams_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage, type SendMessageOptions, serve } from "../lib/mod.ts";
import { EventRecorder } from "./_events.ts";
import { canSpawn, within } from "./_process.ts";
import { decoder } from "./_sockets.ts";

/** Checks a rejection says the connect timed out, after the 100 ms the tests give. */
function timedOutConnecting(error: Error): boolean {
  assert.ok(error instanceof Deno.errors.TimedOut);
  assert.match(error.message, /^Cannot connect to "127\.0\.0\.1:\d+": no answer within 100 ms$/);
  return true;
}

Deno.test("sendMessage() with default options sends the lab's message and returns the reply", async () => {
  const recorder = new EventRecorder();
  await using server = serve({ hostname: "127.0.0.1", port: 0, onEvent: recorder.record });
  const result = await sendMessage({ port: server.addr.port });
  assert.equal(decoder.decode(result.reply), "Thanks for connecting");
  assert.equal(result.bytesSent, 15);
  assert.equal(result.bytesReceived, 21);
  assert.equal(result.remoteAddress, `127.0.0.1:${server.addr.port}`);
  assert.ok(result.connectMs <= result.firstByteMs! && result.firstByteMs! <= result.totalMs);
  assert.equal(decoder.decode((await recorder.waitFor("message")).data), "Hai from client");
});

Deno.test("sendMessage() half-closes, so an eof-framed server answers", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof", echo: true });
  const message = "line one\nline two\n".repeat(1000);
  const result = await sendMessage({ port: server.addr.port, message });
  assert.equal(decoder.decode(result.reply), message);
});

Deno.test("sendMessage() rejects a refused connection with a one-line reason", async () => {
  // A port that was just free: bind, note it, release it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    () => sendMessage({ port }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.ConnectionRefused);
      assert.equal(error.message, `Cannot connect to "127.0.0.1:${port}": connection refused`);
      return true;
    },
  );
});

Deno.test("sendMessage() gives up connecting after the connect timeout", async () => {
  // A listener that never accepts, with its one-slot backlog filled: the
  // kernel drops further SYNs, so the next connect hangs.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  try {
    while (true) {
      try {
        held.push(
          await Deno.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.timeout(200) }),
        );
      } catch {
        break;
      }
      assert.ok(held.length < 100, "the backlog never filled");
    }
    await assert.rejects(
      () => sendMessage({ port, connectTimeout: 100 }),
      timedOutConnecting,
    );
  } finally {
    for (const conn of held) conn.close();
  }
});

Deno.test("sendMessage() gives up when the server goes silent", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  await assert.rejects(
    () => sendMessage({ port: (listener.addr as Deno.NetAddr).port, replyTimeout: 50 }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.TimedOut);
      assert.match(error.message, /nothing moved for 50 ms/);
      return true;
    },
  );
  (await accepted).close();
});

Deno.test("sendMessage() stops at the reply limit", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, reply: "x".repeat(1000) });
  await assert.rejects(
    () => sendMessage({ port: server.addr.port, maxReplyBytes: 100 }),
    /over the limit of 100 bytes/,
  );
});

Deno.test("sendMessage() with halfClose off leaves the sending side open", async () => {
  const recorder = new EventRecorder();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "eof",
    idleTimeout: 100,
    onEvent: recorder.record,
  });
  // An eof-framed server never sees the end of this message: it closes at
  // its idle timeout, without a reply.
  const result = await sendMessage({ port: server.addr.port, halfClose: false });
  assert.equal(result.bytesReceived, 0);
  assert.equal((await recorder.waitFor("close")).reason, "idle");
});

Deno.test("sendMessage() checks every option before connecting", async () => {
  // A closed port: an option that slipped through would fail as refused instead.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const bad: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ replyTimeout: -1 }, RangeError, /Invalid replyTimeout "-1"/],
    [{ replyTimeout: NaN }, RangeError, /Invalid replyTimeout "NaN"/],
    [{ connectTimeout: -5 }, RangeError, /Invalid connectTimeout "-5"/],
    [{ connectTimeout: 2 ** 31 }, RangeError, /Invalid connectTimeout/],
    [{ maxReplyBytes: -1 }, RangeError, /Invalid maxReplyBytes "-1"/],
    [{ maxReplyBytes: 1.5 }, RangeError, /Invalid maxReplyBytes "1\.5"/],
    [{ port: 0 }, RangeError, /Invalid port "0"/],
    [{ hostname: "" }, TypeError, /Invalid hostname ""/],
    [{ path: "" }, TypeError, /Invalid path ""/],
    [{ path: "/tmp/x.sock", tls: true }, TypeError, /path and tls cannot be used together/],
    [{ tls: "yes" }, TypeError, /Invalid tls/],
    [{ tls: { caCerts: "PEM" } }, TypeError, /Invalid tls/],
    [{ message: 42 }, TypeError, /Invalid message/],
    [{ halfClose: "no" }, TypeError, /Invalid halfClose "no"/],
    [{ timeoutIncludesInput: 1 }, TypeError, /Invalid timeoutIncludesInput "1"/],
    [{ output: {} }, TypeError, /Invalid output/],
    [{ signal: "stop" }, TypeError, /Invalid signal/],
  ];
  for (const [options, ErrorClass, pattern] of bad) {
    await assert.rejects(
      () => sendMessage({ port, ...options } as SendMessageOptions),
      (error: Error) => {
        assert.ok(error instanceof ErrorClass, `${JSON.stringify(options)}: ${error}`);
        assert.match(error.message, pattern);
        return true;
      },
    );
  }
});

Deno.test("sendMessage() stops a TLS connect when the signal aborts, handshake or not", async () => {
  // A TCP listener that never answers the TLS handshake, and no connect timeout:
  // only the signal can end the wait.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const reason = new Error("stopped by the caller");
  const controller = new AbortController();
  const result = sendMessage({
    port: (listener.addr as Deno.NetAddr).port,
    tls: true,
    connectTimeout: 0,
    signal: controller.signal,
  });
  const conn = await accepted; // the TCP connection is open: the handshake is pending
  controller.abort(reason);
  try {
    await assert.rejects(
      () => within(result, 5_000, "still connecting 5 s after the abort"),
      (error) => error === reason,
    );
  } finally {
    conn.close();
  }
});

Deno.test("sendMessage() gives up on a TLS handshake that never comes at the connect timeout", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  await assert.rejects(
    () =>
      sendMessage({ port: (listener.addr as Deno.NetAddr).port, tls: true, connectTimeout: 100 }),
    timedOutConnecting,
  );
  (await accepted).close();
});

Deno.test({
  name: "sendMessage() honours a signal that aborts while a Unix socket connects",
  ignore: !canSpawn,
  async fn() {
    // Unix sockets need file permissions for the path, so this runs in a
    // process of its own that has them, as the user's would.
    const path = `/tmp/tcp-lab-test-${crypto.randomUUID()}.sock`;
    const client = new URL("../lib/client.ts", import.meta.url).href;
    const code = `
      import { sendMessage } from "${client}";
      using listener = Deno.listen({ transport: "unix", path: "${path}" });
      const controller = new AbortController();
      const result = sendMessage({ path: "${path}", signal: controller.signal, replyTimeout: 3000 });
      controller.abort(new Error("stopped by the caller"));
      console.log(await result.then(() => "resolved", (error) => error.message));
    `;
    try {
      const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `--allow-read=${path}`,
          `--allow-write=${path}`,
          `--allow-net=unix:${path}`,
          code,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(decoder.decode(stdout).trim(), "stopped by the caller", decoder.decode(stderr));
    } finally {
      await Deno.remove(path).catch(() => {});
    }
  },
});
