/**
 * Load mode and standard input: a piped stdin is read only for `-`, to a
 * bound and within the run's duration, so a pipe that never ends or stays
 * silent can neither hold the run back nor grow memory.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

const ignore = !canSpawn;

/** Runs load mode with a stdin held open; `write` is given the writer first. */
async function load(
  port: number,
  args: string[],
  write: (writer: WritableStreamDefaultWriter<Uint8Array>) => Promise<void>,
): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const startedAt = performance.now();
  const child = scriptCommand("client.ts", ["--port", String(port), "--json", ...args], {
    permissions: ["--allow-net=127.0.0.1"],
    stdin: "piped",
    signal: AbortSignal.timeout(20_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  const writing = write(writer).catch(() => {});
  const { code, stdout, stderr } = await child.output();
  await writing;
  await writer.close().catch(() => {});
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
    ms: performance.now() - startedAt,
  };
}

Deno.test({
  name: "client.ts load mode runs its duration with a piped stdin that stays open and silent",
  ignore,
  async fn() {
    await using server = await startServer([]);
    const { code, stdout, stderr, ms } = await load(
      server.port,
      ["-d", "1s", "-c", "2"],
      async () => {},
    );
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.ok(report.cycles > 0);
    // The default message: the stdin was never read.
    assert.equal(report.bytesSent, report.cycles * "Hai from client".length);
    assert.ok(ms < 10_000, `${ms} ms`);
  },
});

Deno.test({
  name: "client.ts load mode sends a piped stdin given as -, and refuses one over 1 MiB",
  ignore,
  async fn() {
    await using server = await startServer([]);
    const small = await load(server.port, ["-n", "3", "-c", "1", "-"], async (writer) => {
      await writer.write(new TextEncoder().encode("from stdin"));
      await writer.close();
    });
    assert.equal(small.code, 0, small.stderr);
    assert.equal(JSON.parse(small.stdout).bytesSent, 3 * "from stdin".length);
    const big = await load(server.port, ["-n", "3", "-c", "1", "-"], async (writer) => {
      // `yes`: more than the bound, and never an end.
      for (let i = 0; i < 64; i++) await writer.write(new Uint8Array(64 * 1024).fill(0x79));
    });
    assert.equal(big.code, 2, big.stderr);
    assert.match(big.stderr, /^error: Standard input is over 1048576 bytes/);
    assert.equal(big.stdout, "");
  },
});

Deno.test({
  name: "client.ts load mode gives up on a - stdin that does not end within --duration",
  ignore,
  async fn() {
    await using server = await startServer([]);
    const { code, stderr, ms } = await load(server.port, ["-d", "1s", "-"], async () => {});
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^error: Standard input did not end within 1s/);
    assert.ok(ms < 10_000, `${ms} ms`);
  },
});
