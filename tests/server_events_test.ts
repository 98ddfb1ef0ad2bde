/**
 * What `serve()` tells observers: the events asked for, close events, message
 * previews, and message bytes that stay intact while first-read buffers are
 * reused.
 *
 * @module
 */

import assert from "node:assert/strict";
import { serve } from "../lib/mod.ts";
import { EventRecorder, serveRecorded } from "./_events.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

Deno.test("serve() reuses first-read buffers without mixing one client's bytes into another's", async () => {
  // Without an observer the server recycles each connection's first-read
  // buffer; a short message after a long one must come back alone.
  await using server = serve({ hostname: "127.0.0.1", port: 0, echo: true });
  const messages = ["a long message that fills more of the buffer", "hi", "x".repeat(1024), "ok"];
  for (let round = 0; round < 3; round++) {
    for (const message of messages) {
      await using conn = await connect(server.addr.port);
      await writeAll(conn, encoder.encode(message));
      assert.equal(decoder.decode(await readAll(conn)), message);
    }
  }
  assert.equal(server.stats.connections, 12);
});

Deno.test("serve() keeps each message event's bytes intact while later connections reuse buffers", async () => {
  // Small messages reach observers as copies, so their buffer is reused;
  // larger ones are handed over, so theirs is not. Either way, what an
  // observer kept must still read as what was sent.
  const recorder = new EventRecorder();
  await using server = serve({ hostname: "127.0.0.1", port: 0, onEvent: recorder.record });
  const messages = ["short", "y".repeat(200), "tiny", "z".repeat(64), "w".repeat(65), "end"];
  for (let round = 0; round < 3; round++) {
    for (const message of messages) {
      await using conn = await connect(server.addr.port);
      await writeAll(conn, encoder.encode(message));
      assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
    }
  }
  assert.deepEqual(
    recorder.ofType("message").map((event) => decoder.decode(event.data)),
    [...messages, ...messages, ...messages],
  );
});

Deno.test("serve() with events delivers only the kinds asked for, and counts everything", async () => {
  const recorder = new EventRecorder();
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    onEvent: recorder.record,
    events: ["message", "summary"],
  });
  for (const message of ["one", "two"]) {
    await using conn = await connect(server.addr.port);
    await writeAll(conn, encoder.encode(message));
    assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  }
  await server.shutdown();
  assert.deepEqual(
    recorder.events.map((event) => event.type),
    ["message", "message", "summary"],
  );
  assert.equal(server.stats.connections, 2);
  assert.equal(server.stats.messages, 2);
});

Deno.test("serve() refuses an unknown event type", () => {
  assert.throws(
    () => serve({ port: 0, events: ["message", "bogus" as "message"] }),
    { name: "TypeError", message: /Invalid event type "bogus"/ },
  );
});

Deno.test("serve() with closeEvents unusual reports closes other than the normal end", async () => {
  const { server, recorder } = serveRecorded({ closeEvents: "unusual", idleTimeout: 50 });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("Hai from client"));
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  conn.close();
  await using silent = await connect(server.addr.port);
  const idle = await recorder.waitFor("close");
  assert.equal(idle.reason, "idle");
  assert.equal(idle.id, 2);
  assert.equal(recorder.ofType("close").length, 1);
  assert.equal((await readAll(silent)).length, 0);
  assert.equal(server.stats.connections, 2);
});

Deno.test("serve() with previewBytes gives observers a copy of a message's start, whole after the close", async () => {
  const { server, recorder } = serveRecorded({ framing: "line", previewBytes: 8 });
  await using _ = server;
  const line = "0123456789".repeat(500) + "\n"; // grows past the first read's buffer
  for (let i = 0; i < 2; i++) {
    await using conn = await connect(server.addr.port);
    await writeAll(conn, encoder.encode(line));
    assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  }
  await recorder.waitForCount("close", 2);
  const messages = recorder.ofType("message");
  assert.deepEqual(messages.map((event) => decoder.decode(event.data)), ["01234567", "01234567"]);
  assert.deepEqual(messages.map((event) => event.bytes), [line.length, line.length]);
});
