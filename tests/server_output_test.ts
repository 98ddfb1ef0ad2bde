/**
 * What `server.ts` writes, and where: the readable log of a keep-alive
 * connection, and errors on stderr under `--quiet`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn, connect, decoder, encoder, readAll, startServer, writeAll } from "./_helpers.ts";

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
