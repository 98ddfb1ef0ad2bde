/**
 * `client.ts --json` when the exchange fails after a reply arrived: the
 * result is printed with what arrived and an `error` field, exit code 1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

Deno.test({
  name: "client.ts --json prints what arrived and the error when the message is cut short",
  ignore: !canSpawn,
  async fn() {
    await using server = await startServer(["--framing", "eof", "--max-message", "1KiB"]);
    const child = scriptCommand("client.ts", ["--port", String(server.port), "--json"], {
      permissions: ["--allow-net=127.0.0.1"],
      stdin: "piped",
      signal: AbortSignal.timeout(20_000),
    }).spawn();
    const writer = child.stdin.getWriter();
    const writing = (async () => {
      // 10 MB, far more than the server takes and loopback buffers.
      for (let i = 0; i < 160; i++) await writer.write(new Uint8Array(64 * 1000));
      await writer.close();
    })().catch(() => {});
    const { code, stdout, stderr } = await child.output();
    await writing;
    assert.equal(code, 1, decoder.decode(stderr));
    const text = decoder.decode(stdout);
    assert.ok(text.endsWith("}\n") && !text.slice(0, -1).includes("\n"), text);
    const result = JSON.parse(text);
    assert.ok(result.reply.length > 0, text);
    assert.equal(result.bytesReceived, new TextEncoder().encode(result.reply).length);
    assert.match(result.error, /closed the connection before the whole message was sent/);
    assert.equal(decoder.decode(stderr), `error: ${result.error}\n`);
  },
});

Deno.test({
  name: "client.ts --json into a closed pipe says it cannot write the reply, as the plain client",
  ignore: !canSpawn,
  async fn() {
    await using server = await startServer([]);
    for (const json of [["--json"], []]) {
      const child = scriptCommand("client.ts", ["--port", String(server.port), ...json], {
        permissions: ["--allow-net=127.0.0.1"],
        signal: AbortSignal.timeout(20_000),
      }).spawn();
      // The read end closes before the client writes: its write meets EPIPE.
      await child.stdout.cancel();
      const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
      assert.equal(status.code, 1, stderr);
      assert.equal(stderr, "error: Cannot write the reply: broken pipe\n", json.join(" "));
    }
  },
});
