// The commands people type: a leading `--` (the npm habit), the tasks'
// network grants, and what a target outside the grant prints.
import assert from "node:assert/strict";
import { type ClientArgs, parseClientArgs } from "../client.ts";
import { parseServerArgs, type ServerArgs } from "../server.ts";
import { canSpawn, decoder, runScript, startServer } from "./_helpers.ts";

const ignore = !canSpawn;

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
    // startServer puts its own flags first, so the -- here is a later one:
    // run the server as typed instead.
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
