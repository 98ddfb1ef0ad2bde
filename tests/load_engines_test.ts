// runLoad() under each engine: the same cycles, counts and errors from both.
// The epoll engine needs --allow-ffi (deno task test grants it); without it
// its tests are reported as ignored.
import assert from "node:assert/strict";
import { formatLoadReport, type LoadEngine, runLoad, serve } from "../lib/mod.ts";

const canUseFfi = Deno.build.os === "linux" &&
  (await Deno.permissions.query({ name: "ffi" })).state === "granted";

/** A server that answers line after line on one connection. */
const keepAliveServer = () =>
  serve({ hostname: "127.0.0.1", port: 0, framing: "line", keepAlive: true });

for (const engine of ["portable", "epoll"] as const satisfies LoadEngine[]) {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({
      name: `runLoad() ${engine}: ${name}`,
      ignore: engine === "epoll" && !canUseFfi,
      fn,
    });

  test("runs the lab's exchange the given number of times", async () => {
    await using server = serve({ hostname: "127.0.0.1", port: 0 });
    const report = await runLoad({ port: server.addr.port, concurrency: 8, count: 200, engine });
    assert.equal(report.engine, engine);
    assert.equal(report.cycles, 200);
    assert.deepEqual(report.errors, {});
    assert.equal(report.bytesSent, 200 * 15);
    assert.equal(report.bytesReceived, 200 * 21);
    assert.equal(server.stats.connections, 200);
    const { p50, p90, p99, max } = report.latencyMs;
    assert.ok(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max);
    assert.match(formatLoadReport(report, "x"), new RegExp(`cycles {4}200 .*`));
    assert.match(formatLoadReport(report, "x"), new RegExp(`${engine} engine`));
  });

  test("with keepAlive reuses one connection per worker", async () => {
    await using server = keepAliveServer();
    const report = await runLoad({
      port: server.addr.port,
      concurrency: 4,
      count: 400,
      keepAlive: true,
      message: "ping\n",
      engine,
    });
    assert.equal(report.cycles, 400);
    assert.deepEqual(report.errors, {});
    assert.equal(report.bytesReceived, 400 * "Thanks for connecting\n".length);
    assert.equal(server.stats.connections, 4);
    assert.equal(server.stats.messages, 400);
  });

  test("counts failed cycles by kind", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const report = await runLoad({ port, concurrency: 2, count: 10, engine });
    assert.equal(report.cycles, 0);
    assert.deepEqual(report.errors, { refused: 10 });
  });

  test("half-closes by default, so an eof-framed server answers", async () => {
    await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof" });
    const report = await runLoad({ port: server.addr.port, concurrency: 4, count: 40, engine });
    assert.equal(report.cycles, 40);
    assert.deepEqual(report.errors, {});
    assert.equal(server.stats.messages, 40);
  });

  test("with cycleTimeout 0 never times a cycle out", async () => {
    await using server = serve({ hostname: "127.0.0.1", port: 0 });
    const report = await runLoad({
      port: server.addr.port,
      concurrency: 8,
      count: 200,
      cycleTimeout: 0,
      halfClose: false,
      engine,
    });
    assert.equal(report.cycles, 200);
    assert.deepEqual(report.errors, {});
  });

  test("times out a connect that never completes", async () => {
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
      const report = await runLoad({ port, concurrency: 1, count: 1, cycleTimeout: 100, engine });
      assert.equal(report.cycles, 0);
      assert.deepEqual(report.errors, { timeout: 1 });
    } finally {
      for (const conn of held) conn.close();
    }
  });

  test("times out a server that never answers, and counts it", async () => {
    // The server reads the message and then holds the connection open.
    await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof" });
    const report = await runLoad({
      port: server.addr.port,
      concurrency: 2,
      count: 2,
      halfClose: false,
      cycleTimeout: 100,
      engine,
    });
    assert.equal(report.cycles, 0);
    assert.deepEqual(report.errors, { timeout: 2 });
  });

  test("sends a message larger than the socket's buffers whole", async () => {
    const message = new Uint8Array(4 * 2 ** 20).fill(0x61);
    await using server = serve({
      hostname: "127.0.0.1",
      port: 0,
      framing: "eof",
      echo: true,
      maxMessageBytes: message.length,
    });
    const report = await runLoad({
      port: server.addr.port,
      concurrency: 2,
      count: 4,
      message,
      engine,
    });
    assert.deepEqual(report.errors, {});
    assert.equal(report.cycles, 4);
    assert.equal(report.bytesSent, 4 * message.length);
    assert.equal(report.bytesReceived, 4 * message.length);
  });

  test("completes a cycle whose reply and EOF arrive while it is still sending", async () => {
    // This server answers and half-closes at once, then reads the client's
    // large message to its end: the client learns of the EOF long before it
    // has finished sending.
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      for (let served = 0; served < 2; served++) {
        const conn = await listener.accept();
        await conn.write(new TextEncoder().encode("early"));
        await conn.closeWrite();
        const sink = new Uint8Array(64 * 1024);
        while ((await conn.read(sink)) !== null) { /* discard */ }
        conn.close();
      }
    })();
    const message = new Uint8Array(4 * 2 ** 20).fill(0x62);
    const report = await runLoad({
      port: (listener.addr as Deno.NetAddr).port,
      concurrency: 1,
      count: 2,
      message,
      cycleTimeout: 5_000,
      engine,
    });
    await serving;
    assert.deepEqual(report.errors, {});
    assert.equal(report.cycles, 2);
    assert.equal(report.bytesReceived, 2 * "early".length);
  });

  test("counts a server that closes without a reply line as a reset, at once", async () => {
    // Without keepAlive this server sends its reply with no newline, then
    // closes: a keep-alive client must not wait for a line that never comes.
    await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "line" });
    const report = await runLoad({
      port: server.addr.port,
      concurrency: 4,
      count: 40,
      keepAlive: true,
      message: "ping\n",
      cycleTimeout: 5_000,
      engine,
    });
    assert.equal(report.cycles, 0);
    assert.deepEqual(report.errors, { reset: 40 });
  });

  test("with keepAlive never half-closes, even when asked to", async () => {
    await using server = keepAliveServer();
    const report = await runLoad({
      port: server.addr.port,
      concurrency: 2,
      count: 100,
      keepAlive: true,
      halfClose: true,
      message: "ping\n",
      engine,
    });
    assert.deepEqual(report.errors, {});
    assert.equal(report.cycles, 100);
    assert.equal(server.stats.connections, 2);
  });

  test("reaches a server on ::1", async () => {
    await using server = serve({ hostname: "::1", port: 0 });
    const report = await runLoad({
      hostname: "::1",
      port: server.addr.port,
      concurrency: 4,
      count: 20,
      engine,
    });
    assert.deepEqual(report.errors, {});
    assert.equal(report.cycles, 20);
    assert.equal(server.stats.connections, 20);
  });

  test("stops starting cycles when its signal aborts", async () => {
    await using server = serve({ hostname: "127.0.0.1", port: 0 });
    const controller = new AbortController();
    const report = await runLoad({
      port: server.addr.port,
      concurrency: 4,
      duration: 60_000,
      engine,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.cycles > 0) controller.abort();
      },
    });
    assert.ok(report.cycles > 0);
    assert.ok(report.elapsedMs < 60_000);
    assert.deepEqual(report.errors, {});
  });
}

Deno.test({
  name: "runLoad() epoll: refuses a host name it cannot connect to directly, saying why",
  ignore: !canUseFfi,
  async fn() {
    await assert.rejects(
      runLoad({ hostname: "localhost", port: 1, count: 1, engine: "epoll" }),
      { name: "TypeError", message: /epoll engine cannot run: .*IP address/ },
    );
  },
});

Deno.test({
  name: "runLoad() epoll: refuses an address with a zone, which it cannot pass on",
  ignore: !canUseFfi,
  async fn() {
    await assert.rejects(
      runLoad({ hostname: "::1%lo", port: 1, count: 1, engine: "epoll" }),
      { name: "TypeError", message: /IP address without a zone/ },
    );
  },
});

Deno.test({
  name: "runLoad() refuses a target outside the net permission before any cycle",
  // Narrowed here, so the test means the same under a plain --allow-net; and
  // the target is on loopback, so even a refusal that failed stays here.
  permissions: { net: ["127.0.0.1"], ffi: canUseFfi },
  async fn() {
    for (const engine of ["auto", "portable"] as const) {
      await assert.rejects(
        runLoad({ hostname: "127.0.0.2", port: 9, count: 1, engine }),
        { name: "NotCapable", message: /Requires net access to "127\.0\.0\.2:9"/ },
      );
    }
  },
});

Deno.test("runLoad() auto: uses epoll exactly where it can run", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0 });
  const report = await runLoad({ port: server.addr.port, concurrency: 1, count: 1 });
  assert.equal(report.engine, canUseFfi ? "epoll" : "portable");
});

Deno.test("runLoad() refuses an unknown engine", async () => {
  await assert.rejects(
    runLoad({ count: 1, engine: "turbo" as LoadEngine }),
    { name: "TypeError", message: /Invalid engine "turbo"/ },
  );
});
