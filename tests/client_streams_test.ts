/**
 * `sendMessage()` with streams: a message read from a stream and a reply
 * written to one, a message that pauses, and what the client says when its
 * input, its output or the server fails part way.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage, serve } from "../lib/mod.ts";
import { decoder, encoder } from "./_sockets.ts";

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

/**
 * A peer that reads `readFirst` bytes, replies, half-closes, then discards
 * `discard` more bytes and closes with the rest of the message unread, as
 * server.ts's lingering close does: the client sees the reply and EOF first,
 * and its later writes fail.
 */
async function closeEarly(listener: Deno.Listener, discard: number): Promise<number> {
  const conn = await listener.accept();
  const buffer = new Uint8Array(64 * 1024);
  let read = (await conn.read(buffer)) ?? 0;
  await conn.write(encoder.encode("partial reply"));
  await conn.closeWrite();
  while (read < discard) {
    const count = await conn.read(buffer);
    if (count === null) break;
    read += count;
  }
  conn.close();
  return read;
}

Deno.test("sendMessage() fails when the server closes before the whole message was sent", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = closeEarly(listener, 256 * 1024);
  const message = new Uint8Array(64 * 1024 * 1024); // more than any loopback buffering
  await assert.rejects(
    () => sendMessage({ port: (listener.addr as Deno.NetAddr).port, message }),
    (error: Error) => {
      assert.ok(
        error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset,
        String(error),
      );
      assert.match(
        error.message,
        /^"127\.0\.0\.1:\d+" closed the connection before the whole message was sent \(\d+ of 67108864 bytes sent\): /,
      );
      return true;
    },
  );
  assert.ok((await server) < message.length);
});

/** A message stream that pauses `pauseMs` between its two chunks. */
async function* pausing(pauseMs: number): AsyncGenerator<Uint8Array> {
  yield encoder.encode("first ");
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  yield encoder.encode("second");
}

Deno.test("sendMessage() leaves a pausing message out of the timeout when asked", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof", echo: true });
  const port = server.addr.port;
  // A pause longer than the timeout: the server waits on us, not we on it.
  const result = await sendMessage({
    port,
    message: pausing(400),
    replyTimeout: 150,
    timeoutIncludesInput: false,
  });
  assert.equal(decoder.decode(result.reply), "first second");
  await assert.rejects(
    () => sendMessage({ port, message: pausing(400), replyTimeout: 150 }),
    /nothing moved for 150 ms/,
  );
});

Deno.test("sendMessage() fails at once when its message stream fails", async () => {
  // An eof-framed server waits for the rest of the message: without the
  // check, the exchange would wait on it until the timeout.
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof", echo: true });
  async function* failing() {
    yield encoder.encode("a start, then ");
    throw new Error("Input/output error");
  }
  await assert.rejects(
    () => sendMessage({ port: server.addr.port, message: failing(), replyTimeout: 5_000 }),
    (error: Error) => {
      assert.equal(error.message, "Cannot read the message: input/output error");
      return true;
    },
  );
});

Deno.test("sendMessage() names a failing output as such, not as the connection", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0 });
  const output = { write: () => Promise.reject(new Deno.errors.BrokenPipe("Broken pipe")) };
  await assert.rejects(
    () => sendMessage({ port: server.addr.port, output }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.BrokenPipe);
      assert.equal(error.message, "Cannot write the reply: broken pipe");
      return true;
    },
  );
});
