/**
 * `serve()` over loopback in each framing: where a message ends (a read, a
 * newline, the half-close, EOF, the size limit), and a large echo streamed.
 * `readMessage()` itself is in framing_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { READ_CHUNK_BYTES } from "../lib/framing.ts";
import { serveRecorded } from "./_events.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

Deno.test("serve() chunk framing takes what the first read returns", async () => {
  const { server, recorder } = serveRecorded({ framing: "chunk" });
  await using _ = server;
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("first part"));
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  const message = await recorder.waitFor("message");
  assert.equal(decoder.decode(message.data), "first part");
  assert.equal(message.end, "chunk");
});

Deno.test("serve() line framing waits for the newline across reads", async () => {
  const { server, recorder } = serveRecorded({ framing: "line", echo: true });
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
  const { server, recorder } = serveRecorded({ framing: "eof" });
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
    const { server, recorder } = serveRecorded({ framing, echo: true });
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
    const { server, recorder } = serveRecorded({ framing, maxMessageBytes: 10, echo: true });
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
  const { server, recorder } = serveRecorded({
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
