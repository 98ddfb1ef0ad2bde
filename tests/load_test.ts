import assert from "node:assert/strict";
import { formatLoadReport, runLoad, serve } from "../lib/mod.ts";
import {
  canSpawn,
  connect,
  decoder,
  encoder,
  EventRecorder,
  readAll,
  runScript,
  startServer,
  writeAll,
} from "./_helpers.ts";

Deno.test("runLoad() runs the lab's exchange the given number of times", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0 });
  const report = await runLoad({ port: server.addr.port, concurrency: 8, count: 200 });
  assert.equal(report.cycles, 200);
  assert.deepEqual(report.errors, {});
  assert.equal(report.bytesSent, 200 * 15);
  assert.equal(report.bytesReceived, 200 * 21);
  assert.equal(server.stats.connections, 200);
  const { p50, p90, p99, max } = report.latencyMs;
  assert.ok(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max);
  assert.match(formatLoadReport(report, "x"), /cycles {4}200 /);
});

Deno.test("runLoad() with keepAlive reuses one connection per worker", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "line", keepAlive: true });
  const report = await runLoad({
    port: server.addr.port,
    concurrency: 4,
    count: 400,
    keepAlive: true,
    message: "ping\n",
  });
  assert.equal(report.cycles, 400);
  assert.deepEqual(report.errors, {});
  assert.equal(report.bytesReceived, 400 * "Thanks for connecting\n".length);
  assert.equal(server.stats.connections, 4);
  assert.equal(server.stats.messages, 400);
});

Deno.test("runLoad() counts failed cycles by kind", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const report = await runLoad({ port, concurrency: 2, count: 10 });
  assert.equal(report.cycles, 0);
  assert.deepEqual(report.errors, { refused: 10 });
});

Deno.test("serve() with keepAlive answers each line, including lines that arrive together", async () => {
  const recorder = new EventRecorder();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "line",
    keepAlive: true,
    echo: true,
    onEvent: recorder.record,
  });
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("one\ntwo\nthr"));
  await recorder.waitForCount("reply", 2);
  await writeAll(conn, encoder.encode("ee\n"));
  await recorder.waitForCount("reply", 3);
  await conn.closeWrite();
  assert.equal(decoder.decode(await readAll(conn)), "one\ntwo\nthree\n");
  assert.deepEqual(
    recorder.ofType("message").map((event) => decoder.decode(event.data)),
    ["one\n", "two\n", "three\n"],
  );
  assert.equal((await recorder.waitFor("close")).reason, "done");
});

Deno.test("serve() refuses keepAlive without line framing", () => {
  assert.throws(() => serve({ port: 0, keepAlive: true }), TypeError);
});

Deno.test({
  name: "client.ts --count runs a load and prints its report as JSON",
  ignore: !canSpawn,
  async fn() {
    await using server = await startServer(["--quiet"]);
    const { code, stdout, stderr } = await runScript("client.ts", [
      "--port",
      String(server.port),
      "--connections",
      "4",
      "--count",
      "50",
      "--json",
    ]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(decoder.decode(stdout));
    assert.equal(report.cycles, 50);
    assert.equal(report.concurrency, 4);
    assert.deepEqual(report.errors, {});
  },
});

Deno.test("serve() counts a keep-alive client closed between lines as idle or done, never an error", async () => {
  const recorder = new EventRecorder();
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "line",
    keepAlive: true,
    idleTimeout: 50,
    onEvent: recorder.record,
  });
  const idle = await connect(server.addr.port);
  await writeAll(idle, encoder.encode("one\n"));
  assert.equal((await recorder.waitFor("close")).reason, "idle");
  idle.close();
  const waiting = await connect(server.addr.port);
  await writeAll(waiting, encoder.encode("two\n"));
  await recorder.waitForCount("reply", 2);
  await server.shutdown();
  waiting.close();
  assert.deepEqual(recorder.ofType("close").map((event) => event.reason), ["idle", "done"]);
  assert.equal(server.stats.errors, 0);
  assert.equal(server.stats.idleTimeouts, 1);
});

Deno.test("runLoad() half-closes by default, so an eof-framed server answers", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof" });
  const report = await runLoad({ port: server.addr.port, concurrency: 4, count: 40 });
  assert.equal(report.cycles, 40);
  assert.deepEqual(report.errors, {});
});

Deno.test("runLoad() with cycleTimeout 0 never times a cycle out", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0 });
  const report = await runLoad({
    port: server.addr.port,
    concurrency: 8,
    count: 200,
    cycleTimeout: 0,
    halfClose: false,
  });
  assert.equal(report.cycles, 200);
  assert.deepEqual(report.errors, {});
});

Deno.test("runLoad() times out a connect that never completes", async () => {
  // A listener that never accepts, its one-slot backlog filled: connects hang.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  try {
    while (held.length < 100) {
      try {
        held.push(
          await Deno.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.timeout(200) }),
        );
      } catch {
        break;
      }
    }
    const report = await runLoad({ port, concurrency: 1, count: 1, cycleTimeout: 100 });
    assert.equal(report.cycles, 0);
    assert.deepEqual(report.errors, { timeout: 1 });
  } finally {
    for (const conn of held) conn.close();
  }
});
