/**
 * What `server.ts` writes, and where: the readable log of a keep-alive
 * connection, and errors on stderr under `--quiet`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage } from "../lib/mod.ts";
import { canSpawn, hasProgram, LineReader } from "./_process.ts";
import { runScript, startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const ignore = !canSpawn;

Deno.test({
  name: "server.ts --keep-alive logs Got connection from once per connection, then each line",
  ignore,
  async fn() {
    await using server = await startServer(["--framing", "line", "--keep-alive"]);
    for (const client of ["a", "b"]) {
      await using conn = await connect(server.port);
      for (const line of ["one", "two", "three"]) {
        await writeAll(conn, encoder.encode(`${client} ${line}\n`));
        const reply = new Uint8Array(64);
        assert.equal(
          decoder.decode(reply.subarray(0, (await conn.read(reply))!)),
          "Thanks for connecting\n",
        );
      }
      await conn.closeWrite();
      assert.equal((await readAll(conn)).length, 0);
      await server.stdout.until((line) => line === `${client} three\\n`);
    }
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    const port = String.raw`127\.0\.0\.1:\d+`;
    assert.equal(lines.length, 11, lines.join("\n"));
    for (
      const [index, pattern] of [
        `^Listening on ${port}$`,
        `^Got connection from ${port}$`,
        String.raw`^a one\\n$`,
        String.raw`^a two\\n$`,
        String.raw`^a three\\n$`,
        `^Got connection from ${port}$`,
        String.raw`^b one\\n$`,
        String.raw`^b two\\n$`,
        String.raw`^b three\\n$`,
        `^Shutting down$`,
        `^Served 2 connections \\(6 messages\\)`,
      ].entries()
    ) {
      assert.match(lines[index], new RegExp(pattern));
    }
  },
});

Deno.test({
  name: "server.ts --quiet still reports a reset on stderr, and only the two lines on stdout",
  ignore: !(await hasProgram("python3")),
  async fn() {
    await using server = await startServer(["--quiet", "--framing", "eof"]);
    // A peer that connects, sends, says so, and resets on a line from stdin.
    const peer = new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"half a mess")
print("sent", flush=True)
sys.stdin.readline()
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`,
        String(server.port),
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const said = new LineReader(peer.stdout);
    await said.until((line) => line === "sent");
    // The server accepts in order: once a later client is answered, the
    // peer's connection is one of the server's own.
    assert.equal(
      decoder.decode((await sendMessage({ port: server.port })).reply),
      "Thanks for connecting",
    );
    const stdin = peer.stdin.getWriter();
    await stdin.write(encoder.encode("\n"));
    await stdin.close();
    assert.ok((await peer.status).success);
    await said.rest();
    // A reset shows when the reply cannot be sent (Deno reads it as EOF).
    const { code, lines, stderr } = await server.stop();
    assert.equal(code, 0);
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(lines[0], /^Listening on /);
    assert.match(lines[1], /^Served 2 connections \(1 message\), .*, 1 error,/);
    assert.match(stderr, /^127\.0\.0\.1:\d+: reset by the peer/m);
    assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
  },
});

Deno.test({
  name: "server.ts --quiet reports failed accepts on stderr, and accepting again",
  ignore,
  async fn() {
    await using server = await startServer(["--quiet", "--idle-timeout", "0"], {
      shell: "ulimit -n 256;",
    });
    const held: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 456; i++) held.push(await connect(server.port));
    } finally {
      for (const conn of held) conn.close();
    }
    // Accepting works again once descriptors are free: the lab's exchange.
    assert.equal(
      decoder.decode((await sendMessage({ port: server.port })).reply),
      "Thanks for connecting",
    );
    const { code, lines, stderr } = await server.stop();
    assert.equal(code, 0);
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(stderr, /^Cannot accept connections: .*Too many open files/m);
    assert.match(stderr, /^Accepting connections again after [\d,]+ failed attempts?$/m);
  },
});

Deno.test({
  name: "server.ts names a certificate file that holds no certificate, not a failure to listen",
  ignore,
  async fn() {
    const { stdout } = await new Deno.Command("sh", {
      args: ["-c", 'dir=$(mktemp -d) && echo "not a certificate" > "$dir/bad.pem" && echo "$dir"'],
    }).output();
    const dir = decoder.decode(stdout).trim();
    try {
      const { code, stderr } = await runScript("server.ts", [
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--cert",
        `${dir}/bad.pem`,
        "--key",
        `${dir}/bad.pem`,
      ], { permissions: ["--allow-net=127.0.0.1", `--allow-read=${dir}`] });
      assert.equal(code, 1);
      assert.match(
        stderr,
        new RegExp(
          `^error: Invalid TLS certificate or key in "${dir}/bad.pem", "${dir}/bad.pem": no certificates found`,
        ),
      );
    } finally {
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    }
  },
});
