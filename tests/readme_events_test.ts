/**
 * The README's JSON log example names the fields the server emits.
 *
 * @module
 */

import assert from "node:assert/strict";
import readme from "../README.md" with { type: "text" };
import { formatEventJson, serve, type ServerEvent } from "../lib/mod.ts";
import { connect, encoder, readAll, writeAll } from "./_sockets.ts";

Deno.test("README's JSON close event has the fields a done close has", async () => {
  const shown = readme.split("\n").find((line) => line.startsWith('{"event":"close"'));
  const events: ServerEvent[] = [];
  const server = serve({ hostname: "127.0.0.1", port: 0, onEvent: (event) => events.push(event) });
  {
    await using conn = await connect(server.addr.port);
    await writeAll(conn, encoder.encode("Hai from client"));
    await conn.closeWrite();
    await readAll(conn);
  }
  await server.shutdown();
  const close = events.find((event) => event.type === "close" && event.reason === "done");
  assert.ok(close && shown !== undefined);
  assert.deepEqual(Object.keys(JSON.parse(shown)), Object.keys(JSON.parse(formatEventJson(close))));
});
