/**
 * Load mode counts a cycle that got no reply as an error (`no-reply`), in
 * both engines, as the single client exits 1 on no reply.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runLoad } from "../lib/load/run_load.ts";
import { canSpawn } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

const canFfi = (await Deno.permissions.query({ name: "ffi" })).state === "granted";

for (const engine of ["portable", "epoll"] as const) {
  Deno.test({
    name:
      `client.ts --engine ${engine} counts cycles a refusing server closed unanswered as no-reply`,
    ignore: !canSpawn || (engine === "epoll" && (!canFfi || Deno.build.os !== "linux")),
    async fn() {
      // All of 127.0.0.0/8 is local, so a rule for 127.0.0.2 refuses 127.0.0.1.
      await using server = await startServer(["--allow", "127.0.0.2"]);
      const { code, stdout, stderr } = await scriptCommand("client.ts", [
        "--port",
        String(server.port),
        "-n",
        "5",
        "-c",
        "1",
        "--engine",
        engine,
        "--json",
      ], { permissions: ["--allow-net=127.0.0.1", "--allow-ffi"] }).output();
      assert.equal(code, 1, decoder.decode(stderr));
      const report = JSON.parse(decoder.decode(stdout));
      assert.equal(report.engine, engine);
      assert.equal(report.cycles, 0);
      assert.equal(report.bytesReceived, 0);
      // A refusal may also reach the client as a reset: a race in the kernel.
      const kinds = report.errors as Record<string, number>;
      assert.equal((kinds["no-reply"] ?? 0) + (kinds.reset ?? 0), 5, JSON.stringify(kinds));
      assert.ok((kinds["no-reply"] ?? 0) > 0, JSON.stringify(kinds));
    },
  });
}

Deno.test("runLoad() reports no-reply in its table and counts answered cycles as before", async () => {
  const { formatLoadReport } = await import("../lib/load/format.ts");
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  const report = await runLoad({
    port: (listener.addr as Deno.NetAddr).port,
    count: 3,
    concurrency: 1,
    engine: "portable",
  });
  listener.close();
  await serving;
  assert.equal(report.cycles, 0);
  assert.ok((report.errors["no-reply"] ?? 0) > 0, JSON.stringify(report.errors));
  assert.match(formatLoadReport(report, "x"), /errors {4}3 \(.*no-reply/);
});
