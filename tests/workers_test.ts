/**
 * `--workers N`: N accept loops sharing the port through SO_REUSEPORT, every
 * one serving, one combined summary, the same drain on SIGTERM.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  canSpawn,
  connect,
  decoder,
  encoder,
  LineReader,
  readAll,
  runScript,
  writeAll,
} from "./_helpers.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test({
  name: "server.ts --workers 2 serves from every worker and sums their counts",
  ignore: !canSpawn,
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--unstable-net",
        "--allow-net=127.0.0.1",
        `--allow-read=${root}lib`,
        `${root}server.ts`,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--workers",
        "2",
        "--json",
        "--framing",
        "eof",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new LineReader(child.stdout);
    const stderr = new Response(child.stderr).text();
    try {
      const listening = JSON.parse(await stdout.until((line) => line.includes('"listening"')));
      const port = listening.address.split(":").pop();
      const load = await runScript("client.ts", [
        "--port",
        port,
        "-c",
        "16",
        "-n",
        "400",
        "--json",
      ]);
      assert.equal(load.code, 0, load.stderr);
      assert.equal(JSON.parse(decoder.decode(load.stdout)).cycles, 400);
      // One more client still sending when SIGTERM comes: the drain lets it finish.
      await using late = await connect(Number(port));
      await writeAll(late, encoder.encode("sent before "));
      await stdout.until((line) => line.includes('"connection"') && line.includes('"id":'), 10_000);
      child.kill("SIGTERM");
      // One shutdown for the pool, counting the connection open in a worker.
      const shutdown = JSON.parse(await stdout.until((line) => line.includes('"shutdown"')));
      assert.equal(shutdown.active, 1);
      assert.equal(shutdown.worker, undefined);
      await writeAll(late, encoder.encode("the signal"));
      await late.closeWrite();
      assert.equal(decoder.decode(await readAll(late)), "Thanks for connecting");
      const { code } = await child.status;
      assert.equal(code, 0, await stderr);
      const events = (await stdout.rest()).map((line) => JSON.parse(line));
      const workers = new Set(
        events.filter((event) => event.event === "message").map((event) => event.worker),
      );
      assert.deepEqual([...workers].sort(), [1, 2], "both workers served");
      const summary = events.at(-1);
      assert.equal(summary.event, "summary");
      assert.equal(summary.connections, 401);
      assert.equal(summary.messages, 401);
      assert.equal(summary.errors, 0);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await Promise.all([child.status, stdout.rest(), stderr]);
    }
  },
});

Deno.test({
  name: "server.ts --workers past twice the CPUs (and past 8) is a usage error",
  ignore: !canSpawn,
  async fn() {
    const most = Math.max(8, 2 * (navigator.hardwareConcurrency || 1));
    const { code, stderr } = await runScript("server.ts", ["--workers", String(most + 1)], {
      permissions: ["--unstable-net", "--allow-net=127.0.0.1", `--allow-read=${root}lib`],
    });
    assert.equal(code, 2);
    assert.match(stderr, new RegExp(`^error: Invalid workers "${most + 1}": at most ${most} `));
  },
});

Deno.test({
  name: "server.ts --workers without --unstable-net names the flag to add, not a listen failure",
  ignore: !canSpawn,
  async fn() {
    const { code, stderr } = await runScript("server.ts", [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--workers",
      "2",
    ], { permissions: ["--allow-net=127.0.0.1", `--allow-read=${root}lib`] });
    assert.equal(code, 1);
    assert.equal(
      stderr,
      'error: Flag "--workers" needs Deno\'s --unstable-net flag: run with deno run --unstable-net\n',
    );
  },
});
