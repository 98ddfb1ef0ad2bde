/**
 * `serve()` over loopback: the lab's exchange, the real port, slow and silent
 * clients side by side, timeouts and the connection limit, resets, shutdown
 * and its drain, IPv6, and bad options. Framing is in
 * server_framing_test.ts, observers in server_events_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { serve } from "../lib/mod.ts";
import { EventRecorder, serveRecorded } from "./_events.ts";
import { startResettingPeer } from "./_peers.ts";
import { hasProgram } from "./_process.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

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
  const { server, recorder } = serveRecorded();
  await using _ = server;
  const listening = await recorder.waitFor("listening");
  assert.equal(listening.address, `127.0.0.1:${server.addr.port}`);
});

Deno.test("serve() answers others while one client is silent and another trickles", async () => {
  const { server, recorder } = serveRecorded({ framing: "line" });
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

Deno.test("serve() closes a connection that stays idle past the timeout", async () => {
  const { server, recorder } = serveRecorded({ idleTimeout: 50 });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  assert.equal((await readAll(conn)).length, 0, "closed without a reply");
  const close = await recorder.waitFor("close");
  assert.equal(close.reason, "idle");
  assert.equal(server.stats.idleTimeouts, 1);
});

Deno.test("serve() accepts no more than maxConnections at once", async () => {
  const { server, recorder } = serveRecorded({ maxConnections: 1, framing: "eof" });
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
    const { server, recorder } = serveRecorded({ framing: "eof" });
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
    const { server, recorder } = serveRecorded({ maxConnections: 1, framing: "eof" });
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
  const { server, recorder } = serveRecorded({ framing: "eof", echo: true, drainTimeout: 10_000 });
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
  const { server, recorder } = serveRecorded({ framing: "eof", drainTimeout: 20 });
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
  const { server, recorder } = serveRecorded({ signal: controller.signal });
  controller.abort();
  await server.finished;
  assert.equal((await recorder.waitFor("summary")).connections, 0);
});

Deno.test("serve() listens on IPv6 loopback", async () => {
  const { server } = serveRecorded({ hostname: "::1" });
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
  const { server } = serveRecorded();
  await using _ = server;
  assert.throws(
    () => serve({ hostname: "127.0.0.1", port: server.addr.port }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("serve() counts at shutdown only the connections still in an exchange", async () => {
  const { server, recorder } = serveRecorded({ framing: "line", drainTimeout: 100 });
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
