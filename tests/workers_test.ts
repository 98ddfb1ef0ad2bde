/**
 * `--workers N`: N accept loops sharing the port through SO_REUSEPORT, every
 * one serving, one combined summary, the same drain on SIGTERM.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage } from "../lib/mod.ts";
import { canSpawn, LineReader, residentBytes } from "./_process.ts";
import { runScript, scriptCommand } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const root = new URL("../", import.meta.url).pathname;

/** What `--workers` needs: SO_REUSEPORT, and reading the worker's module. */
const WORKERS = ["--unstable-net", "--allow-net=127.0.0.1", `--allow-read=${root}lib`];

/** Closes a connection that a timer may have closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}

Deno.test({
  name: "server.ts --workers 2 serves from every worker and sums their counts",
  ignore: !canSpawn,
  async fn() {
    const child = scriptCommand("server.ts", [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--workers",
      "2",
      "--json",
      "--framing",
      "eof",
    ], { permissions: WORKERS }).spawn();
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
      permissions: WORKERS,
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

Deno.test({
  name:
    "server.ts --workers 2 with a log reader that stalls: the workers wait, memory stays bounded",
  ignore: !canSpawn || Deno.build.os !== "linux",
  async fn() {
    const child = scriptCommand("server.ts", [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--workers",
      "2",
      "--framing",
      "line",
      "--keep-alive",
    ], { permissions: WORKERS }).spawn();
    const stderr = new Response(child.stderr).text();
    const output = child.stdout.getReader();
    const conns: Deno.Conn[] = [];
    try {
      // Read up to the listening line, then no more: the log's reader stalls.
      let head = "";
      while (!head.includes("\n")) {
        const { value, done } = await output.read();
        if (done) throw new Error(`The server ended: ${await stderr}`);
        head += decoder.decode(value);
      }
      const port = Number(head.match(/^Listening on 127\.0\.0\.1:(\d+)/)![1]);
      const rss = () => residentBytes(child.pid);
      const before = await rss();
      // 16 keep-alive clients send 4 KiB lines for 3 s at most, or 40,000 lines.
      const line = encoder.encode("a".repeat(4095) + "\n");
      const until = Date.now() + 3000;
      let served = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        const conn = await connect(port);
        conns.push(conn);
        const reply = new Uint8Array(64);
        while (Date.now() < until && served < 40_000) {
          await writeAll(conn, line);
          // A reply that does not come before the deadline is a stalled worker.
          const timer = setTimeout(() => closeQuietly(conn), Math.max(0, until - Date.now()));
          const count = await conn.read(reply).catch(() => null);
          clearTimeout(timer);
          if (count === null) return;
          served++;
        }
      }));
      const growth = (await rss()) - before;
      // The log holds 4 KiB a line: the pipe's 64 KiB, the main thread's
      // pending lines and each worker's 256 events in flight are all it may
      // take before the workers wait. Unbounded, they went on serving (40,000
      // lines in a second) and memory grew 260 MiB.
      assert.ok(served < 2000, `${served} lines were served with nobody reading the log`);
      assert.ok(growth < 64 * 1024 * 1024, `RSS grew by ${growth} bytes`);
      for (const conn of conns.splice(0)) closeQuietly(conn);
      // The reader comes back: everything logged arrives, and the server
      // drains and sums up as usual.
      const rest = (async () => {
        let text = head;
        while (true) {
          const { value, done } = await output.read();
          if (done) return text;
          text += decoder.decode(value);
        }
      })();
      const check = await sendMessage({ port, message: "after the stall\n" });
      assert.equal(decoder.decode(check.reply), "Thanks for connecting\n");
      child.kill("SIGTERM");
      const { code } = await child.status;
      assert.equal(code, 0, await stderr);
      const lines = (await rest).trimEnd().split("\n");
      assert.match(lines.at(-1)!, /^Served \d+ connections/);
      assert.ok(lines.includes("after the stall\\n"));
    } finally {
      for (const conn of conns) closeQuietly(conn);
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await child.status;
      await stderr;
    }
  },
});
