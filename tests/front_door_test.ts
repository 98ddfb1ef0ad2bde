// The commands people type: a leading `--` (the npm habit), the tasks'
// network grants, and what a target outside the grant prints.
import assert from "node:assert/strict";
import { type ClientArgs, parseClientArgs } from "../client.ts";
import { parseServerArgs, type ServerArgs } from "../server.ts";
import { root, runDeno, splitWords, startListening } from "./_commands.ts";
import { canSpawn } from "./_process.ts";
import { runScript, startServer } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

const ignore = !canSpawn;
// Said once for the whole run (each test file loads on its own), so the
// ignored tests of a plain `deno test --allow-net` have their reason in sight.
if (ignore) {
  console.error(
    "note: tests that start processes (deno, nc, python3, openssl) are ignored without " +
      "--allow-run, and the epoll engine's without --allow-ffi: `deno task test` grants both",
  );
}

function client(args: string[]): ClientArgs {
  const parsed = parseClientArgs(args);
  assert.ok(typeof parsed === "object", `${args.join(" ")} parsed as ${parsed}`);
  return parsed;
}

function server(args: string[]): ServerArgs {
  const parsed = parseServerArgs(args);
  assert.ok(typeof parsed === "object", `${args.join(" ")} parsed as ${parsed}`);
  return parsed;
}

Deno.test("parseClientArgs() drops a leading --, so load flags are flags, not the message", () => {
  const parsed = client(["--", "-c", "32", "-n", "100", "--json"]);
  assert.notEqual(typeof parsed.options.message, "string"); // the default, or stdin
  assert.equal(parsed.json, true);
  assert.equal(parsed.load?.concurrency, 32);
  assert.equal(parsed.load?.count, 100);
});

Deno.test("parseClientArgs() keeps a message after a leading --", () => {
  assert.equal(client(["--", "hello there"]).options.message, "hello there");
  assert.equal(client(["--", "hello", "there"]).options.message, "hello there");
});

Deno.test("parseClientArgs() still ends the flags at any -- but a leading one", () => {
  assert.equal(client(["--", "--", "--literal"]).options.message, "--literal");
  const later = client(["--port", "9000", "--", "--json", "-c"]);
  assert.equal(later.options.message, "--json -c");
  assert.equal(later.options.port, 9000);
  assert.equal(later.json, false);
  assert.equal(later.load, undefined);
});

Deno.test("parseClientArgs() drops the -- after the load task's own --load", () => {
  const parsed = client(["--load", "--", "--port", "9000", "--duration", "5s"]);
  assert.equal(parsed.load?.port, 9000);
  assert.equal(parsed.load?.duration, 5000);
  assert.notEqual(typeof parsed.options.message, "string"); // the default, or stdin
});

Deno.test("parseServerArgs() drops a leading --, and the one after the task's --workers N", () => {
  assert.equal(server(["--", "--port", "9000"]).options.port, 9000);
  const workers = server(["--workers", "2", "--", "--port", "9000"]);
  assert.equal(workers.workers, 2);
  assert.equal(workers.options.port, 9000);
  assert.throws(() => parseServerArgs(["--port", "9000", "--", "--json"]), {
    name: "UsageError",
    message: 'Unexpected argument "--json"',
  });
});

Deno.test({
  name: "server.ts and client.ts as processes take a leading --",
  ignore,
  async fn() {
    // startServer puts its own flags first, so a -- there would not lead:
    // the server's leading -- is shown by the usage error below naming the
    // port, and by the task tests.
    await using listening = await startServer([]);
    const port = String(listening.port);
    const reply = await runScript("client.ts", ["--", "--port", port, "hello there"]);
    assert.equal(reply.code, 0, reply.stderr);
    assert.equal(decoder.decode(reply.stdout), "Thanks for connecting");
    assert.equal(await listening.stdout.until((line) => line === "hello there"), "hello there");
    const load = await runScript("client.ts", [
      "--",
      "--port",
      port,
      "-c",
      "2",
      "-n",
      "10",
      "--json",
    ]);
    assert.equal(load.code, 0, load.stderr);
    assert.equal(JSON.parse(decoder.decode(load.stdout)).cycles, 10);
    const usage = await runScript("server.ts", ["--", "--port", "x"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^error: Invalid port "x"/);
  },
});

Deno.test({
  name: "deno task server listens on any port of each address its task grants",
  ignore,
  async fn() {
    for (const host of ["0.0.0.0", "127.0.0.1", "::", "::1"]) {
      await using server = await startListening([
        "task",
        "-q",
        "server",
        "--host",
        host,
        "-p",
        "0",
      ]);
      assert.ok(server.port > 0, server.address);
      // An exchange first: it proves the server answers, and a SIGTERM sent
      // the instant it listens is another matter (issue 9, section 3).
      const target = host.includes(":") ? "::1" : "127.0.0.1";
      const reply = await runScript("client.ts", ["--host", target, "-p", String(server.port)]);
      assert.equal(decoder.decode(reply.stdout), "Thanks for connecting", reply.stderr);
      assert.equal(await server.stop(), 0);
    }
    await using workers = await startListening([
      "task",
      "-q",
      "server:workers",
      "--",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
    ]);
    assert.match(workers.address, /^127\.0\.0\.1:\d+$/);
    const reply = await runScript("client.ts", ["-p", String(workers.port)]);
    assert.equal(decoder.decode(reply.stdout), "Thanks for connecting", reply.stderr);
    assert.equal(await workers.stop(), 0);
  },
});

Deno.test({
  name: "deno task client and load reach any port of 127.0.0.1, [::1] and localhost",
  ignore,
  async fn() {
    await using server = await startListening(["task", "-q", "server", "--", "--host", "::"]);
    const port = String(server.port);
    for (const host of ["127.0.0.1", "::1", "[::1]", "localhost"]) {
      const direct = await runDeno(["task", "-q", "client", "--host", host, "--port", port, "hi"]);
      assert.equal(direct.code, 0, `${host}: ${direct.stderr}`);
      assert.equal(direct.stdout, "Thanks for connecting");
    }
    const npmHabit = await runDeno(["task", "-q", "client", "--", "-p", port, "hello there"]);
    assert.equal(npmHabit.stdout, "Thanks for connecting", npmHabit.stderr);
    await server.stdout.until((line) => line === "hello there");
    for (const task of ["client", "load"]) {
      const load = await runDeno([
        "task",
        "-q",
        task,
        "--",
        "-p",
        port,
        "-c",
        "2",
        "-n",
        "10",
        "--json",
      ]);
      assert.equal(load.code, 0, `${task}: ${load.stderr}`);
      const report = JSON.parse(load.stdout);
      assert.equal(report.cycles, 10);
      assert.equal(report.engine, task === "load" ? "epoll" : "portable");
    }
  },
});

/** Asserts one error line that ends in a command, and returns that command's words. */
function commandFromError(stderr: string, problem: RegExp): string[] {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], problem);
  const [, command] = lines[0].match(/; this works: (deno run .*)$/) ?? [];
  assert.ok(command, stderr);
  return splitWords(command);
}

Deno.test({
  name: "a client target outside the task's grant prints the command that works, and it does",
  ignore,
  async fn() {
    // All of 127.0.0.0/8 is this machine: 127.0.0.2 is outside the task's
    // grant, yet a server on 0.0.0.0 answers there.
    await using server = await startListening(["task", "-q", "server", "--port", "0", "--echo"]);
    const args = ["--host", "127.0.0.2", "-p", String(server.port), "it's me"];
    const refused = await runDeno(["task", "-q", "client", "--", ...args]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    const words = commandFromError(refused.stderr, /Network access to "127\.0\.0\.2:\d+"/);
    assert.deepEqual(words, [
      "deno",
      "run",
      `--allow-net=127.0.0.2:${server.port}`,
      `${root}client.ts`,
      ...args,
    ]);
    const rerun = await runDeno(words.slice(1));
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(rerun.stdout, "it's me");
  },
});

Deno.test({
  name: "a load target outside the grant keeps --allow-ffi and the load flags in its command",
  ignore,
  async fn() {
    const refused = await runDeno([
      "task",
      "-q",
      "load",
      "--",
      "--host",
      "::2",
      "-p",
      "9",
      "-n",
      "1",
    ]);
    assert.equal(refused.code, 1);
    const words = commandFromError(refused.stderr, /Network access to "\[::2\]:9"/);
    assert.deepEqual(words.slice(2), [
      "--allow-net=[::2]:9",
      "--allow-ffi",
      `${root}client.ts`,
      "--load",
      "--host",
      "::2",
      "-p",
      "9",
      "-n",
      "1",
    ]);
  },
});

Deno.test({
  name: "a listen address outside the task's grant prints the command that works, and it does",
  ignore,
  async fn() {
    const args = ["--host", "127.0.0.2", "--port", "0", "--json"];
    const refused = await runDeno(["task", "-q", "server", ...args]);
    assert.equal(refused.code, 1);
    const words = commandFromError(refused.stderr, /Network access to "127\.0\.0\.2:0"/);
    assert.deepEqual(words, [
      "deno",
      "run",
      "--allow-net=127.0.0.2:0",
      `${root}server.ts`,
      ...args,
    ]);
    await using server = await startListening(words.slice(1));
    assert.match(server.address, /^127\.0\.0\.2:\d+$/);
  },
});

Deno.test({
  name: "a file outside the grant is named with every permission the command needs",
  ignore,
  async fn() {
    const args = ["--host", "127.0.0.1", "--port", "0", "--cert", "no such.pem", "--key", "k.pem"];
    const refused = await runDeno([
      "run",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      "server.ts",
      ...args,
    ]);
    assert.equal(refused.code, 1);
    const words = commandFromError(refused.stderr, /Read access to "no such\.pem" is not allowed/);
    assert.deepEqual(words.slice(2, 5), [
      "--allow-net=127.0.0.1:0",
      "--allow-read=no such.pem,k.pem",
      `${root}server.ts`,
    ]);
  },
});
