import assert from "node:assert/strict";
import { READ_CHUNK_BYTES, readMessage, serve, type ServeOptions } from "../lib/mod.ts";
import { EventRecorder } from "./_events.ts";
import { startResettingPeer } from "./_peers.ts";
import { hasProgram } from "./_process.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

function start(options: ServeOptions = {}) {
  const recorder = new EventRecorder();
  const server = serve({ hostname: "127.0.0.1", port: 0, ...options, onEvent: recorder.record });
  return { server, recorder };
}

Deno.test("serve() with default options answers the lab's message like the lab", async () => {
  const recorder = new EventRecorder();
  // Only the port differs from the defaults, so that runs never collide.
  await using server = serve({ port: 0, onEvent: recorder.record });
  assert.equal(server.addr.hostname, "0.0.0.0");
  assert.notEqual(server.addr.port, 0);
  const conn = await connect(server.addr.port);
  // Like the lab client: send without newline or half-close, then wait.
  await writeAll(conn, encoder.encode("Hai from client"));
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  const message = await recorder.waitFor("message");
  assert.equal(decoder.decode(message.data), "Hai from client");
  assert.equal(message.end, "chunk");
  assert.equal(message.peer, `127.0.0.1:${(conn.localAddr as Deno.NetAddr).port}`);
  conn.close(); // the server lingers until the client closes: that is the lab client's close
  const close = await recorder.waitFor("close");
  assert.equal(close.reason, "done");
  assert.equal(close.bytesOut, 21);
  assert.deepEqual(
    recorder.events.map((event) => event.type),
    ["listening", "connection", "message", "reply", "close"],
  );
});

Deno.test("serve() reports the real port when asked for port 0", async () => {
  const { server, recorder } = start();
  await using _ = server;
  const listening = await recorder.waitFor("listening");
  assert.equal(listening.address, `127.0.0.1:${server.addr.port}`);
});

Deno.test("serve() answers others while one client is silent and another trickles", async () => {
  const { server, recorder } = start({ framing: "line" });
  await using _ = server;
  await using silent = await connect(server.addr.port);
  await using trickling = await connect(server.addr.port);
  await writeAll(trickling, encoder.encode("o"));
  await recorder.waitForCount("connection", 2);
  for (let i = 0; i < 3; i++) {
    await using conn = await connect(server.addr.port);
    await writeAll(conn, encoder.encode(`quick ${i}\n`));
    assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  }
  // The two slow clients are still open: nobody waited for them.
  assert.deepEqual(recorder.ofType("close").filter((event) => event.id <= 2), []);
  await writeAll(trickling, encoder.encode("k\n"));
  assert.equal(decoder.decode(await readAll(trickling)), "Thanks for connecting");
  const slowMessage = await recorder.waitFor("message", (event) => event.data[0] === 0x6f);
  assert.equal(decoder.decode(slowMessage.data), "ok\n");
  silent.closeWrite();
  assert.equal(decoder.decode(await readAll(silent)), "Thanks for connecting");
});

Deno.test("serve() chunk framing takes what the first read returns", async () => {
  const { server, recorder } = start({ framing: "chunk" });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("first part"));
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  const message = await recorder.waitFor("message");
  assert.equal(decoder.decode(message.data), "first part");
  assert.equal(message.end, "chunk");
});

Deno.test("serve() line framing waits for the newline across reads", async () => {
  const { server, recorder } = start({ framing: "line", echo: true });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("hel"));
  await recorder.waitFor("connection");
  await writeAll(conn, encoder.encode("lo\nignored after the newline"));
  assert.equal(decoder.decode(await readAll(conn)), "hello\n");
  const message = await recorder.waitFor("message");
  assert.equal(message.end, "newline");
  assert.equal(message.bytes, 6);
});

Deno.test("serve() eof framing reads until the half-close, then still replies", async () => {
  const { server, recorder } = start({ framing: "eof" });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  for (const part of ["one\n", "two\n", "three"]) await writeAll(conn, encoder.encode(part));
  await conn.closeWrite();
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  const message = await recorder.waitFor("message");
  assert.equal(decoder.decode(message.data), "one\ntwo\nthree");
  assert.equal(message.end, "eof");
});

Deno.test("serve() ends a message at EOF in every framing", async () => {
  for (const framing of ["chunk", "line", "eof"] as const) {
    const { server, recorder } = start({ framing, echo: true });
    await using _ = server;
    await using conn = await connect(server.addr.port);
    await writeAll(conn, encoder.encode("no newline"));
    await conn.closeWrite();
    assert.equal(decoder.decode(await readAll(conn)), "no newline", framing);
    const message = await recorder.waitFor("message");
    assert.ok(message.end === "eof" || (framing === "chunk" && message.end === "chunk"));
  }
});

Deno.test("serve() ends a message at the size limit and still replies", async () => {
  for (const framing of ["chunk", "line", "eof"] as const) {
    const { server, recorder } = start({ framing, maxMessageBytes: 10, echo: true });
    await using _ = server;
    const conn = await connect(server.addr.port);
    await writeAll(conn, encoder.encode("0123456789abcdefghij"));
    assert.equal(decoder.decode(await readAll(conn)), "0123456789", framing);
    conn.close();
    const message = await recorder.waitFor("message");
    assert.equal(message.end, "limit", framing);
    assert.equal((await recorder.waitFor("close")).reason, "limit", framing);
  }
});

Deno.test("serve() streams a 64 MiB echo back without holding it whole", async () => {
  const total = 64 * 1024 * 1024;
  const { server, recorder } = start({
    framing: "eof",
    echo: true,
    maxMessageBytes: total * 2,
  });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  const block = new Uint8Array(64 * 1024);
  const sending = (async () => {
    for (let index = 0; index < total / block.length; index++) {
      block.fill(index % 251);
      block[0] = index & 0xff;
      await writeAll(conn, block);
    }
    await conn.closeWrite();
  })();
  // Read while sending: an echo fills both directions at once.
  const buffer = new Uint8Array(64 * 1024);
  let received = 0;
  let mismatches = 0;
  while (true) {
    const count = await conn.read(buffer);
    if (count === null) break;
    for (let i = 0; i < count; i++) {
      const position = received + i;
      const index = Math.floor(position / block.length);
      const expected = position % block.length === 0 ? index & 0xff : index % 251;
      if (buffer[i] !== expected) mismatches++;
    }
    received += count;
  }
  await sending;
  assert.equal(received, total);
  assert.equal(mismatches, 0);
  const message = await recorder.waitFor("message");
  assert.equal(message.bytes, total);
  assert.ok(message.data.length <= READ_CHUNK_BYTES, "only the first chunk is kept");
  assert.equal((await recorder.waitFor("close")).bytesOut, total);
});

Deno.test("serve() closes a connection that stays idle past the timeout", async () => {
  const { server, recorder } = start({ idleTimeout: 50 });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  assert.equal((await readAll(conn)).length, 0, "closed without a reply");
  const close = await recorder.waitFor("close");
  assert.equal(close.reason, "idle");
  assert.equal(server.stats.idleTimeouts, 1);
});

Deno.test("serve() accepts no more than maxConnections at once", async () => {
  const { server, recorder } = start({ maxConnections: 1, framing: "eof" });
  await using _ = server;
  await using first = await connect(server.addr.port);
  await recorder.waitFor("connection");
  // The kernel completes this handshake, but the server does not accept it yet.
  await using second = await connect(server.addr.port);
  await writeAll(second, encoder.encode("second"));
  await second.closeWrite();
  await writeAll(first, encoder.encode("first"));
  await first.closeWrite();
  assert.equal(decoder.decode(await readAll(first)), "Thanks for connecting");
  assert.equal(decoder.decode(await readAll(second)), "Thanks for connecting");
  const order = recorder.events
    .filter((event) => event.type === "connection" || event.type === "close")
    .map((event) => `${event.type} ${(event as { id: number }).id}`);
  assert.deepEqual(order, ["connection 1", "close 1", "connection 2", "close 2"]);
});

const noPython = !(await hasProgram("python3"));

// Deno reads a reset as EOF, so the server learns of it when it replies.
Deno.test({
  name: "serve() logs a peer reset mid-message and goes on serving",
  ignore: noPython,
  async fn() {
    const { server, recorder } = start({ framing: "eof" });
    await using _ = server;
    const peer = startResettingPeer(server.addr.port, "half a mess");
    await recorder.waitFor("connection");
    await peer.reset();
    const close = await recorder.waitFor("close");
    assert.equal(close.reason, "reset");
    assert.equal(server.stats.errors, 1);
    await using conn = await connect(server.addr.port);
    await writeAll(conn, encoder.encode("after"));
    await conn.closeWrite();
    assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  },
});

Deno.test({
  name: "serve() shrugs off a client that resets before it is accepted",
  ignore: noPython,
  async fn() {
    const { server, recorder } = start({ maxConnections: 1, framing: "eof" });
    await using _ = server;
    const holder = await connect(server.addr.port);
    await recorder.waitFor("connection");
    // Completes its handshake in the backlog, then resets there.
    const peer = startResettingPeer(server.addr.port, "");
    await peer.reset();
    holder.close();
    const error = await recorder.waitFor("accept-error");
    assert.equal(error.peerGone, true);
    assert.equal(error.retryInMs, 0);
    await using conn = await connect(server.addr.port);
    await conn.closeWrite();
    assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  },
});

Deno.test("serve() drains replies in flight on shutdown, losing none", async () => {
  const { server, recorder } = start({ framing: "eof", echo: true, drainTimeout: 10_000 });
  const clients = await Promise.all(
    Array.from({ length: 20 }, () => connect(server.addr.port)),
  );
  for (const [index, conn] of clients.entries()) {
    await writeAll(conn, encoder.encode(`client ${index} `));
  }
  await recorder.waitForCount("connection", clients.length);
  const stopping = server.shutdown();
  await recorder.waitFor("shutdown");
  const replies = await Promise.all(clients.map(async (conn, index) => {
    await writeAll(conn, encoder.encode("done"));
    await conn.closeWrite();
    const reply = decoder.decode(await readAll(conn));
    conn.close();
    return reply === `client ${index} done`;
  }));
  await stopping;
  await server.finished;
  assert.equal(replies.filter(Boolean).length, clients.length);
  const summary = await recorder.waitFor("summary");
  assert.equal(summary.connections, clients.length);
  assert.equal(summary.messages, clients.length);
  assert.equal(summary.closedAtShutdown, 0);
  assert.equal(summary.errors, 0);
});

Deno.test("serve() closes what is still open at the drain deadline", async () => {
  const { server, recorder } = start({ framing: "eof", drainTimeout: 20 });
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("never finished"));
  await recorder.waitFor("connection");
  await server.shutdown();
  assert.equal((await readAll(conn)).length, 0, "closed without a reply");
  const summary = await recorder.waitFor("summary");
  assert.equal(summary.closedAtShutdown, 1);
  assert.equal((await recorder.waitFor("close")).reason, "shutdown");
});

Deno.test("serve() stops when its signal is aborted", async () => {
  const controller = new AbortController();
  const { server, recorder } = start({ signal: controller.signal });
  controller.abort();
  await server.finished;
  assert.equal((await recorder.waitFor("summary")).connections, 0);
});

Deno.test("serve() listens on IPv6 loopback", async () => {
  const { server } = start({ hostname: "::1" });
  await using _ = server;
  await using conn = await connect(server.addr.port, "::1");
  await writeAll(conn, encoder.encode("over IPv6"));
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
});

Deno.test("serve() rejects invalid options with built-in error classes", () => {
  assert.throws(() => serve({ port: 70000 }), RangeError);
  assert.throws(() => serve({ port: 0, idleTimeout: -1 }), RangeError);
  assert.throws(() => serve({ port: 0, maxConnections: 0 }), RangeError);
  assert.throws(() => serve({ port: 0, framing: "words" as "line" }), TypeError);
});

Deno.test("serve() throws AddrInUse for a port that is taken", async () => {
  const { server } = start();
  await using _ = server;
  assert.throws(
    () => serve({ hostname: "127.0.0.1", port: server.addr.port }),
    Deno.errors.AddrInUse,
  );
});

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
  const { server, recorder } = start({ closeEvents: "unusual", idleTimeout: 50 });
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
  const { server, recorder } = start({ framing: "line", previewBytes: 8 });
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

Deno.test("readMessage() grows a long line in place and leaves the caller's start buffer alone", async () => {
  const bytes = encoder.encode("x".repeat(300_000) + "\n");
  let offset = 0;
  const reader = {
    read(p: Uint8Array) {
      if (offset >= bytes.length) return Promise.resolve(null);
      const count = Math.min(p.length, 7000, bytes.length - offset);
      p.set(bytes.subarray(offset, offset + count));
      offset += count;
      return Promise.resolve(count);
    },
  };
  const start = new Uint8Array(1024);
  start.set(encoder.encode("x"));
  offset = 1;
  const message = await readMessage(reader, { framing: "line", start: start.subarray(0, 1) });
  assert.equal(message.end, "newline");
  assert.equal(message.data.length, bytes.length);
  assert.ok(message.data.every((byte, index) => byte === bytes[index]));
  assert.equal(start.length, 1024, "the start buffer was detached");
});

Deno.test("serve() counts at shutdown only the connections still in an exchange", async () => {
  const { server, recorder } = start({ framing: "line", drainTimeout: 100 });
  // Answered, with bytes after the newline: the server lingers for its close.
  await using answered = await connect(server.addr.port);
  await writeAll(answered, encoder.encode("done\nand more"));
  const reply = new Uint8Array(64);
  assert.equal(
    decoder.decode(reply.subarray(0, (await answered.read(reply))!)),
    "Thanks for connecting",
  );
  // Half a line: still in its exchange.
  await using midway = await connect(server.addr.port);
  await writeAll(midway, encoder.encode("half a li"));
  await recorder.waitForCount("connection", 2);
  await server.shutdown();
  assert.equal((await recorder.waitFor("shutdown")).active, 1);
  const reasons = recorder.ofType("close").map((event) => event.reason).sort();
  assert.deepEqual(reasons, ["done", "shutdown"]);
});
