/**
 * The readable `idle for …, closed` line gives how long the connection was
 * idle, not how long it was open.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn } from "./_process.ts";
import { startServer } from "./_scripts.ts";
import { connect, encoder, writeAll } from "./_sockets.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test({
  name: "server.ts logs the idle time of an idle close, not the connection's age",
  ignore: !canSpawn,
  async fn() {
    await using server = await startServer([
      "--framing",
      "line",
      "--keep-alive",
      "--idle-timeout",
      "1s",
    ]);
    await using conn = await connect(server.port);
    const buffer = new Uint8Array(1024);
    // Busy for 1.5 s first: the connection is then older than 2.5 s when it
    // is closed after 1 s idle.
    for (let i = 0; i < 3; i++) {
      await writeAll(conn, encoder.encode("line\n"));
      await conn.read(buffer);
      await delay(500);
    }
    const line = await server.stdout.until((line) => line.includes("idle for"));
    const [, value, unit] = line.match(/idle for ([\d.]+)(ms|s), closed$/) ?? [];
    assert.ok(value, line);
    const ms = Number(value) * (unit === "s" ? 1000 : 1);
    assert.ok(ms >= 1000 && ms < 2000, line);
  },
});
