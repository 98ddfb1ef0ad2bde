/**
 * Memory that `server.ts` must give back: connections that held large
 * partial messages leave nothing behind once they close.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage } from "../lib/mod.ts";
import { canSpawn, residentBytes } from "./_process.ts";
import { startServer } from "./_scripts.ts";
import { connect, decoder, writeAll } from "./_sockets.ts";

const MiB = 1024 * 1024;

Deno.test({
  name: "300 connections each holding a 1 MiB partial line: memory returns once they close",
  ignore: !canSpawn || Deno.build.os !== "linux",
  async fn() {
    await using server = await startServer(["--json", "--framing", "line"]);
    // Warm up, so that what is measured is the connections and not start-up.
    for (let i = 0; i < 3; i++) {
      const { reply } = await sendMessage({ port: server.port, message: "warm\n" });
      assert.equal(decoder.decode(reply), "Thanks for connecting");
    }
    const before = await residentBytes(server.child.pid);
    const partial = new Uint8Array(MiB - 100).fill(0x61); // no newline: never a whole line
    const conns: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const conn = await connect(server.port);
        conns.push(conn);
        await writeAll(conn, partial);
      }
    } finally {
      for (const conn of conns) conn.close();
    }
    // A close event comes once a connection's buffers are freed.
    for (let closed = 0; closed < 300;) {
      const line = await server.stdout.until((line) => line.includes('"event":"close"'));
      if (JSON.parse(line).bytesIn > MiB / 2) closed++;
    }
    const growth = (await residentBytes(server.child.pid)) - before;
    // Before, the server kept 200 to 340 MiB of the 300 MiB it had held; the
    // tolerance is for the runtime's own heap, which grows a little.
    assert.ok(growth <= 64 * MiB, `RSS is ${(growth / MiB).toFixed(0)} MiB above the baseline`);
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    const summary = JSON.parse(lines.at(-1)!);
    assert.equal(summary.connections, 303);
    assert.ok(summary.bytesIn >= 300 * partial.length);
  },
});
