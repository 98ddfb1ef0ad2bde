import assert from "node:assert/strict";
import { sendMessage, serve } from "../lib/mod.ts";
import { decoder, encoder, EventRecorder } from "./_helpers.ts";

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

Deno.test("sendMessage() sends a stream and writes the reply to an output stream", async () => {
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "eof",
    echo: true,
    maxMessageBytes: 8 * 1024 * 1024,
  });
  const chunk = encoder.encode("0123456789abcdef".repeat(4096)); // 64 KiB
  let sent = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 64) return controller.close();
      sent++;
      controller.enqueue(chunk);
    },
  });
  let received = 0;
  let intact = true;
  const output = new WritableStream<Uint8Array>({
    write(part) {
      for (let i = 0; i < part.length; i++) {
        if (part[i] !== chunk[(received + i) % chunk.length]) intact = false;
      }
      received += part.length;
    },
  });
  const result = await sendMessage({ port: server.addr.port, message: input, output });
  assert.equal(received, 64 * chunk.length);
  assert.ok(intact);
  assert.equal(result.reply.length, 0, "nothing held when streaming to output");
  assert.equal(result.bytesReceived, received);
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
      (error: Error) => {
        assert.ok(error instanceof Deno.errors.TimedOut);
        assert.match(
          error.message,
          /^Cannot connect to "127\.0\.0\.1:\d+": no answer within 100 ms$/,
        );
        return true;
      },
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
