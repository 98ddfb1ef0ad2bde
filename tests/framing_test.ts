/**
 * `readMessage()`, one message out of a byte stream, in each framing: from a
 * stub reader that hands out chosen pieces, and over real loopback sockets.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FIRST_READ_BYTES, READ_CHUNK_BYTES, readMessage } from "../lib/framing.ts";
import { decoder, encoder, writeAll } from "./_sockets.ts";

/**
 * A reader that hands out `pieces` one per read (cut to the buffer it is
 * given, the rest kept for the next read), then EOF. It records the size of
 * each buffer it was asked to fill and the bytes it gave.
 */
function stubReader(pieces: (string | Uint8Array)[]) {
  const queue = pieces.map((piece) => typeof piece === "string" ? encoder.encode(piece) : piece);
  const asked: number[] = [];
  let given = 0;
  return {
    asked,
    get given() {
      return given;
    },
    read(p: Uint8Array): Promise<number | null> {
      asked.push(p.length);
      const piece = queue.shift();
      if (piece === undefined) return Promise.resolve(null);
      const count = Math.min(p.length, piece.length);
      p.set(piece.subarray(0, count));
      if (count < piece.length) queue.unshift(piece.subarray(count));
      given += count;
      return Promise.resolve(count);
    },
  };
}

const text = (bytes: Uint8Array) => decoder.decode(bytes);

Deno.test("readMessage() chunk framing returns the first read, at most 1 KiB, as the lab did", async () => {
  const reader = stubReader(["Hai from", " client"]);
  const message = await readMessage(reader);
  assert.equal(message.end, "chunk");
  assert.equal(text(message.data), "Hai from");
  assert.equal(message.leftover, undefined);
  assert.deepEqual(reader.asked, [FIRST_READ_BYTES]);
  // One byte is a message too: the first read, however short, is answered.
  const single = stubReader(["x", "yz"]);
  assert.equal(text((await readMessage(single)).data), "x");
  assert.equal(single.asked.length, 1);
  // A larger piece is cut at the first read's size, like recv(1024).
  const large = await readMessage(stubReader(["x".repeat(5000)]), { framing: "chunk" });
  assert.equal(large.data.length, FIRST_READ_BYTES);
});

Deno.test("readMessage() first reads no more than the size limit when it is under 1 KiB", async () => {
  const reader = stubReader(["0123456789abcdef"]);
  const message = await readMessage(reader, { maxBytes: 10 });
  assert.deepEqual(reader.asked, [10]);
  assert.equal(text(message.data), "0123456789");
  assert.equal(message.end, "limit");
});

Deno.test("readMessage() line framing waits for the newline across reads, and keeps what follows", async () => {
  const reader = stubReader(["hel", "lo", "\nwor"]);
  const message = await readMessage(reader, { framing: "line" });
  assert.equal(message.end, "newline");
  assert.equal(text(message.data), "hello\n");
  assert.equal(text(message.leftover!), "wor");
  assert.equal(reader.asked.length, 3);
  // The leftover begins the next message, which the reader then finishes.
  const next = await readMessage(stubReader(["ld\n"]), {
    framing: "line",
    start: message.leftover,
  });
  assert.equal(text(next.data), "world\n");
  assert.equal(next.end, "newline");
  assert.equal(next.leftover?.length, 0);
});

Deno.test("readMessage() line framing answers from the leftover alone when it holds a line", async () => {
  const first = await readMessage(stubReader(["one\ntwo\nthr"]), { framing: "line" });
  assert.equal(text(first.data), "one\n");
  const reader = stubReader([]);
  const second = await readMessage(reader, { framing: "line", start: first.leftover });
  assert.equal(text(second.data), "two\n");
  assert.equal(text(second.leftover!), "thr");
  assert.deepEqual(reader.asked, [], "read although a whole line was at hand");
});

Deno.test("readMessage() eof framing reads until EOF, across many reads", async () => {
  const pieces = Array.from({ length: 50 }, (_, index) => `${index},`);
  const reader = stubReader(pieces);
  const message = await readMessage(reader, { framing: "eof" });
  assert.equal(message.end, "eof");
  assert.equal(text(message.data), pieces.join(""));
  assert.equal(reader.asked.length, 51);
});

Deno.test("readMessage() ends a message cut short by EOF as eof, in every framing", async () => {
  for (const framing of ["chunk", "line", "eof"] as const) {
    const empty = await readMessage(stubReader([]), { framing });
    assert.equal(empty.end, "eof", framing);
    assert.equal(empty.data.length, 0, framing);
  }
  const partial = await readMessage(stubReader(["no newline", " at all"]), { framing: "line" });
  assert.equal(partial.end, "eof");
  assert.equal(text(partial.data), "no newline at all");
  assert.equal(partial.leftover, undefined);
});

Deno.test("readMessage() stops at the size limit and reads not a byte past it", async () => {
  for (const framing of ["line", "eof"] as const) {
    const reader = stubReader(["x".repeat(7), "y".repeat(7), "z".repeat(7)]);
    const message = await readMessage(reader, { framing, maxBytes: 10 });
    assert.equal(message.end, "limit", framing);
    assert.equal(text(message.data), "xxxxxxxyyy", framing);
    assert.equal(reader.given, 10, framing);
  }
});

Deno.test("readMessage() line framing prefers the newline that lands on the size limit", async () => {
  const message = await readMessage(stubReader(["abc\n"]), { framing: "line", maxBytes: 4 });
  assert.equal(message.end, "newline");
  assert.equal(text(message.data), "abc\n");
});

Deno.test("readMessage() grows its buffer by doubling and reads at most 64 KiB at once", async () => {
  const size = 300 * 1024;
  const reader = stubReader([new Uint8Array(size).fill(0x61)]);
  const message = await readMessage(reader, { framing: "eof", maxBytes: 1024 * 1024 });
  assert.equal(message.data.length, size);
  // Each read fills the room that doubling made: memory follows what arrived.
  assert.deepEqual(reader.asked.slice(0, 8), [1024, 1024, 2048, 4096, 8192, 16384, 32768, 65536]);
  assert.equal(reader.asked[0], FIRST_READ_BYTES);
  assert.ok(reader.asked.every((count) => count <= READ_CHUNK_BYTES), `${reader.asked}`);
  assert.ok(message.data.every((byte) => byte === 0x61));
});

Deno.test("readMessage() reports every read's count to onRead", async () => {
  const counts: number[] = [];
  await readMessage(stubReader(["ab", "cde", "f\n"]), {
    framing: "line",
    onRead: (count) => counts.push(count),
  });
  assert.deepEqual(counts, [2, 3, 2]);
});

Deno.test("readMessage() rejects with the reader's own error", async () => {
  const failure = new Deno.errors.ConnectionReset("reset by peer");
  let reads = 0;
  const reader = {
    read(p: Uint8Array): Promise<number | null> {
      if (reads++ === 0) {
        p.set(encoder.encode("half"));
        return Promise.resolve(4);
      }
      return Promise.reject(failure);
    },
  };
  await assert.rejects(readMessage(reader, { framing: "line" }), (error) => error === failure);
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

/** A connected pair of loopback TCP sockets. */
async function socketPair(): Promise<{ client: Deno.TcpConn; server: Deno.TcpConn }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  return { client, server };
}

Deno.test("readMessage() over loopback: lines written apart, then the rest to EOF", async () => {
  const { client, server } = await socketPair();
  try {
    const first = readMessage(server, { framing: "line" });
    await writeAll(client, encoder.encode("one"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeAll(client, encoder.encode(" line\nand the rest"));
    const line = await first;
    assert.equal(text(line.data), "one line\n");
    await writeAll(client, encoder.encode(", then EOF"));
    await client.closeWrite();
    const rest = await readMessage(server, { framing: "eof", start: line.leftover });
    assert.equal(rest.end, "eof");
    assert.equal(text(rest.data), "and the rest, then EOF");
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("readMessage() over loopback: a 1 MiB message whole, then the limit", async () => {
  const bytes = new Uint8Array(1024 * 1024).map((_, index) => index % 251);
  for (const maxBytes of [bytes.length, 100_000]) {
    const { client, server } = await socketPair();
    try {
      const sending = writeAll(client, bytes).then(() => client.closeWrite());
      const message = await readMessage(server, { framing: "eof", maxBytes });
      // Reached with the last byte too: the limit is checked before EOF is read.
      assert.equal(message.end, "limit");
      assert.equal(message.data.length, maxBytes);
      assert.deepEqual(message.data, bytes.subarray(0, maxBytes));
      if (maxBytes === bytes.length) {
        await sending;
        // The limit is reached with the last byte: what follows is the EOF.
        assert.equal((await readMessage(server, { framing: "eof" })).end, "eof");
      } else {
        server.close(); // unread bytes: the sender sees the close
        await sending.catch(() => {});
      }
    } finally {
      client.close();
      try {
        server.close();
      } catch { /* closed above */ }
    }
  }
});
