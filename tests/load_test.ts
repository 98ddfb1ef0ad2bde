import assert from "node:assert/strict";
import { type LoadOptions, runLoad, serve } from "../lib/mod.ts";
import { EventRecorder } from "./_events.ts";
import { canSpawn } from "./_process.ts";
import { LOOPBACK_NET, runScript, scriptCommand, startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

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
    // Without --allow-ffi, auto falls back to the portable engine.
    assert.equal(report.engine, "portable");
  },
});

Deno.test({
  name: "client.ts --engine epoll runs with --allow-ffi and says why it cannot without",
  ignore: !canSpawn || Deno.build.os !== "linux",
  async fn() {
    await using server = await startServer(["--quiet"]);
    const args = ["--port", String(server.port), "--count", "20", "--json", "--engine", "epoll"];
    const granted = await runScript("client.ts", args, {
      permissions: [LOOPBACK_NET, "--allow-ffi"],
    });
    assert.equal(granted.code, 0, granted.stderr);
    const report = JSON.parse(decoder.decode(granted.stdout));
    assert.equal(report.engine, "epoll");
    assert.equal(report.cycles, 20);
    const refused = await runScript("client.ts", args);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout.length, 0);
    assert.equal(refused.stderr, "error: The epoll engine cannot run: it needs --allow-ffi\n");
  },
});

Deno.test({
  name: "client.ts rejects an unknown --engine as a usage error",
  ignore: !canSpawn,
  async fn() {
    const { code, stderr } = await runScript("client.ts", ["--engine", "turbo"]);
    assert.equal(code, 2);
    assert.match(stderr, /^error: Invalid engine "turbo": expected auto, epoll or portable\n/);
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

Deno.test({
  name: "client.ts load mode names the missing net permission instead of failing every cycle",
  ignore: !canSpawn,
  async fn() {
    const { code, stdout, stderr } = await runScript(
      "client.ts",
      ["--port", "9", "--count", "3"],
      { permissions: ["--allow-net=127.0.0.1:8"] },
    );
    assert.equal(code, 1);
    assert.equal(stdout.length, 0);
    assert.match(
      stderr,
      /^error: Network access to "127\.0\.0\.1:9" is not allowed; this works: deno run --allow-net=127\.0\.0\.1:9 (\S*\/)?client\.ts --port 9 --count 3\n$/,
    );
  },
});

Deno.test({
  name: "client.ts load mode stops at Ctrl-C (SIGINT) and still prints its report",
  ignore: !canSpawn || Deno.build.os === "windows",
  async fn() {
    let accepted = 0;
    let firstAccept!: () => void;
    const started = new Promise<void>((resolve) => firstAccept = resolve);
    await using server = serve({
      hostname: "127.0.0.1",
      port: 0,
      events: ["connection"],
      onEvent: () => {
        if (++accepted === 1) firstAccept();
      },
    });
    const child = scriptCommand("client.ts", [
      "--port",
      String(server.addr.port),
      "--connections",
      "2",
      "--duration",
      "60s",
      "--json",
    ]).spawn();
    await started;
    child.kill("SIGINT");
    const { code, stdout, stderr } = await child.output();
    assert.equal(code, 0, decoder.decode(stderr));
    const report = JSON.parse(decoder.decode(stdout));
    assert.ok(report.cycles > 0);
    assert.ok(report.elapsedMs < 60_000);
    assert.deepEqual(report.errors, {});
  },
});

Deno.test("runLoad() checks its numbers before any cycle", async () => {
  const bad: [LoadOptions, RegExp][] = [
    [{ duration: -1 }, /Invalid duration "-1"/],
    [{ count: -5 }, /Invalid count "-5"/],
    [{ count: 1.5 }, /Invalid count "1\.5"/],
    [{ count: 1, cycleTimeout: -1 }, /Invalid cycleTimeout "-1"/],
    [{ count: 1, port: 0 }, /Invalid port "0"/],
  ];
  for (const [options, pattern] of bad) {
    // The signal bounds the run should a check be missing.
    const signal = AbortSignal.timeout(2_000);
    await assert.rejects(
      () => runLoad({ port: 9, engine: "portable", signal, ...options }),
      (error: Error) => {
        assert.ok(error instanceof RangeError, `${JSON.stringify(options)}: ${error}`);
        assert.match(error.message, pattern);
        return true;
      },
    );
  }
});

Deno.test({
  name: "runLoad() refuses a run that nothing could end, and runs until aborted with a signal",
  ignore: !canSpawn,
  async fn() {
    // Without the check the run would never end: in a process of its own,
    // which the time limit kills, against a closed loopback port.
    const load = new URL("../lib/load/run_load.ts", import.meta.url).href;
    for (const options of ["{ duration: 0 }", "{ duration: 0, count: 0 }"]) {
      const code = `
        import { runLoad } from "${load}";
        await runLoad({ port: 9, engine: "portable", ...${options} }).then(
          () => console.log("ended"),
          (error) => console.log(error.constructor.name, error.message),
        );
      `;
      const { stdout } = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--allow-net=127.0.0.1:9", code],
        stdout: "piped",
        stderr: "null",
        signal: AbortSignal.timeout(10_000),
      }).output();
      assert.match(decoder.decode(stdout), /^RangeError .*would never end/, options);
    }
    await using server = serve({ hostname: "127.0.0.1", port: 0 });
    const controller = new AbortController();
    const report = await runLoad({
      port: server.addr.port,
      duration: 0,
      concurrency: 1,
      engine: "portable",
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    assert.ok(report.cycles >= 1);
  },
});
