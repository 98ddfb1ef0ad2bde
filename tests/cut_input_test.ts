/**
 * Input that comes after the server closed is a cut message: the plain
 * client says so and exits 1, however small the rest is. Written after the
 * server's close, the kernel takes it and the gone peer drops it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage } from "../lib/client.ts";
import { serve } from "../lib/mod.ts";
import { canSpawn } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { decoder, encoder } from "./_sockets.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("sendMessage() fails when more of a streamed message comes after the server closed", async () => {
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "line",
    keepAlive: true,
    idleTimeout: 200,
  });
  async function* message() {
    yield encoder.encode("a\n");
    await delay(600);
    yield encoder.encode("b\n");
  }
  await assert.rejects(
    () => sendMessage({ port: server.addr.port, message: message(), timeoutIncludesInput: false }),
    /closed the connection before the whole message was sent \(2 bytes sent\)/,
  );
});

Deno.test({
  name: "client.ts exits 1 when the rest of a piped message comes after the server closed",
  ignore: !canSpawn,
  async fn() {
    await using server = await startServer([
      "--framing",
      "line",
      "--keep-alive",
      "--idle-timeout",
      "300ms",
    ]);
    const child = scriptCommand("client.ts", ["--port", String(server.port)], {
      permissions: ["--allow-net=127.0.0.1"],
      stdin: "piped",
      signal: AbortSignal.timeout(20_000),
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("a\n"));
    await server.stdout.until((line) => /idle/.test(line));
    await delay(200);
    await writer.write(encoder.encode("b\n"));
    await writer.close().catch(() => {});
    const { code, stdout, stderr } = await child.output();
    assert.equal(decoder.decode(stdout), "Thanks for connecting\n");
    assert.equal(code, 1, decoder.decode(stderr));
    assert.match(
      decoder.decode(stderr),
      /^error: "127\.0\.0\.1:\d+" closed the connection before the whole message was sent/,
    );
  },
});
