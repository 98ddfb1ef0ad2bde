/**
 * `client.ts` as a process when an exchange goes wrong or grows large: what
 * it says, its exit code, and `--json` with a reply of any size.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn, LineReader } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { decoder, encoder, readAll } from "./_sockets.ts";

const ignore = !canSpawn;

/** The client's permissions in these tests: loopback only. */
const permissions = ["--allow-net=127.0.0.1"];

Deno.test({
  name: "client.ts refused by the server's --allow exits 1 and says so, with no misleading hint",
  ignore,
  async fn() {
    // All of 127.0.0.0/8 is local, so a rule for 127.0.0.2 refuses 127.0.0.1.
    await using server = await startServer(["--allow", "127.0.0.2/32"]);
    const { code, stdout, stderr } = await scriptCommand("client.ts", [
      "--port",
      String(server.port),
    ], { permissions }).output();
    const text = decoder.decode(stderr);
    assert.equal(code, 1, text);
    assert.equal(stdout.length, 0);
    // Whether the refusal reaches the client as a close or as a reset is a
    // race in the kernel; either way it is one honest line.
    assert.match(
      text,
      new RegExp(
        `^error: ("127\\.0\\.0\\.1:${server.port}" closed the connection without a reply; ` +
          `a server that refuses a client \\(as with --allow\\) does this|` +
          `Connection to "127\\.0\\.0\\.1:${server.port}" failed: connection reset.*)\\n$`,
      ),
    );
    assert.doesNotMatch(text, /--no-half-close/);
    await server.stdout.until((line) => line.endsWith("refused, not in --allow"));
  },
});

Deno.test({
  name: "client.ts exits 1 and says so when the server closes before the whole message was sent",
  ignore,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    // As server.ts does after its reply: half-close, discard up to 256 KiB,
    // close. The client reads the reply and EOF first; its later writes fail.
    const server = (async () => {
      const conn = await listener.accept();
      const buffer = new Uint8Array(64 * 1024);
      let read = (await conn.read(buffer)) ?? 0;
      await conn.write(encoder.encode("Thanks for connecting"));
      await conn.closeWrite();
      while (read < 256 * 1024) {
        const count = await conn.read(buffer);
        if (count === null) break;
        read += count;
      }
      conn.close();
    })();
    const child = scriptCommand("client.ts", [
      "--port",
      String((listener.addr as Deno.NetAddr).port),
    ], { permissions, stdin: "piped", signal: AbortSignal.timeout(20_000) }).spawn();
    const output = child.output();
    // 64 MiB piped, far more than the server takes and loopback buffers.
    const writer = child.stdin.getWriter();
    const chunk = new Uint8Array(1024 * 1024);
    try {
      for (let i = 0; i < 64; i++) await writer.write(chunk);
      await writer.close();
    } catch {
      // the client has stopped reading: what the test is about
    }
    const { code, stdout, stderr } = await output;
    await server;
    const text = decoder.decode(stderr);
    assert.equal(code, 1, text);
    assert.equal(decoder.decode(stdout), "Thanks for connecting");
    assert.match(
      text,
      /^error: "127\.0\.0\.1:\d+" closed the connection before the whole message was sent \(\d+ bytes sent\): .+\n$/,
    );
  },
});

/** A peer that reads the whole message, sends `reply`, and closes. */
async function replyWith(listener: Deno.Listener, reply: Uint8Array, times = 1): Promise<void> {
  const conn = await listener.accept();
  await readAll(conn);
  for (let i = 0; i < times; i++) {
    let offset = 0;
    while (offset < reply.length) offset += await conn.write(reply.subarray(offset));
  }
  conn.close();
}

Deno.test({
  name: "client.ts --json prints a 100 MiB reply of control bytes as one valid JSON line",
  ignore,
  async fn() {
    // 100 MiB of \x01 escapes to 600 million characters: past V8's longest
    // string, which is where a JSON.stringify of the whole result failed.
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const mib = new Uint8Array(1024 * 1024).fill(0x01);
    const server = replyWith(listener, mib, 100);
    const child = scriptCommand("client.ts", [
      "--port",
      String((listener.addr as Deno.NetAddr).port),
      "--json",
      "--max-reply",
      "128MiB",
    ], { permissions, signal: AbortSignal.timeout(60_000) }).spawn();
    const stderr = new Response(child.stderr).text();
    // Checked as it streams: the test holds the ends, never the 600 MB.
    let length = 0;
    let head = "";
    let tail = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      if (head.length < 64) head += text.slice(0, 64);
      tail = (tail + text).slice(-400);
      length += text.length;
    }
    const { code } = await child.status;
    await server;
    assert.equal(code, 0, await stderr);
    assert.equal(await stderr, "");
    assert.ok(head.startsWith('{"reply":"\\u0001\\u0001'), head);
    const end = tail.slice(tail.indexOf('"bytesSent"') - 1);
    const rest = JSON.parse(`{${end.slice(1)}`);
    assert.equal(rest.bytesReceived, 100 * 1024 * 1024);
    assert.equal(tail.at(-1), "\n");
    // Every byte as a six-character escape, and nothing else in between.
    assert.equal(length, '{"reply":"'.length + 6 * 100 * 1024 * 1024 + '"'.length + end.length);
  },
});

Deno.test({
  name: "client.ts --json gives a reply that is not UTF-8 as base64 too, exactly",
  ignore,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    // A little over 4 MiB of every byte value: crosses the slices the JSON
    // is built from, and is not valid UTF-8.
    const reply = new Uint8Array(4 * 1024 * 1024 + 7).map((_, i) => (i * 7) & 0xff);
    const server = replyWith(listener, reply);
    const { code, stdout, stderr } = await scriptCommand("client.ts", [
      "--port",
      String((listener.addr as Deno.NetAddr).port),
      "--json",
    ], { permissions }).output();
    await server;
    assert.equal(code, 0, decoder.decode(stderr));
    const result = JSON.parse(decoder.decode(stdout));
    assert.equal(result.bytesReceived, reply.length);
    const bytes = Uint8Array.from(atob(result.replyBase64), (char) => char.charCodeAt(0));
    assert.deepEqual(bytes, reply);
    assert.equal(result.reply, new TextDecoder().decode(reply));
  },
});

Deno.test({
  name: "client.ts --unix says when the server's backlog is full, and takes --connect-timeout",
  ignore,
  async fn() {
    const path = `/tmp/tcp-lab-test-${crypto.randomUUID()}.sock`;
    // A listener that never accepts, its one-slot queue taken by its own
    // connection: Linux then refuses further Unix connects at once.
    const python = new Deno.Command("python3", {
      args: [
        "-c",
        `
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(0)
held = socket.socket(socket.AF_UNIX)
held.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
os.unlink(sys.argv[1])
`,
        path,
      ],
      stdin: "piped",
      stdout: "piped",
      signal: AbortSignal.timeout(20_000),
    }).spawn();
    const stdout = new LineReader(python.stdout);
    try {
      assert.equal(await stdout.next(), "ready");
      const { code, stderr } = await scriptCommand(
        "client.ts",
        ["--unix", path, "--connect-timeout", "2s"],
        {
          permissions: [
            `--allow-read=${path}`,
            `--allow-write=${path}`,
            `--allow-net=unix:${path}`,
          ],
        },
      ).output();
      assert.equal(code, 1);
      assert.equal(
        decoder.decode(stderr),
        `error: Cannot connect to "unix:${path}": the server is not accepting (its backlog is full)\n`,
      );
    } finally {
      await python.stdin.close();
      await Promise.all([stdout.rest(), python.status]); // it removes the socket file as it leaves
    }
  },
});
