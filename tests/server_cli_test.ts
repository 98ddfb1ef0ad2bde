/**
 * `server.ts` as a process, as a user runs it: the lab's exchange with
 * `client.ts`, its log (readable, `--json`, `--quiet`, coloured), its flags
 * and their one-line errors, signals, and what it says when it cannot listen.
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { canSpawn, hasProgram } from "./_process.ts";
import { assertOneLineError, runScript, startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const ignore = !canSpawn;

/** Asserts a failed run printed one error line and maybe a hint, and no stack trace. */
Deno.test({
  name: "server.ts and client.ts with no flags reproduce the lab's exchange word for word",
  ignore,
  async fn() {
    await using server = await startServer();
    const client = await runScript("client.ts", ["--port", String(server.port)]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
    assert.equal(client.stderr, "");
    const got = await server.stdout.until((line) => line.startsWith("Got connection from"));
    assert.match(got, /^Got connection from 127\.0\.0\.1:\d+$/);
    assert.equal(await server.stdout.next(), "Hai from client");
    const { code, lines } = await server.stop("SIGTERM");
    assert.equal(code, 0);
    assert.match(lines.at(-1)!, /^Served 1 connection \(1 message\), 15 bytes in, 21 bytes out/);
  },
});

Deno.test({
  name: "server.ts exits 1 naming the port when it is in use",
  ignore,
  async fn() {
    await using first = await startServer();
    const second = await runScript("server.ts", ["--host", "127.0.0.1", "--port", `${first.port}`]);
    assert.equal(second.code, 1);
    assertOneLineError(
      second.stderr,
      new RegExp(`Cannot listen on "127\\.0\\.0\\.1:${first.port}": the port is already in use`),
    );
  },
});

Deno.test({
  name:
    "server.ts: a missing permission names the command to run, with the --allow-net flag to add",
  ignore,
  async fn() {
    const server = await runScript("server.ts", ["--host", "127.0.0.1", "--port", "0"], {
      permissions: ["--allow-net=127.0.0.1:1"],
    });
    assert.equal(server.code, 1);
    assertOneLineError(
      server.stderr,
      /^error: Network access to "127\.0\.0\.1:0" is not allowed; this works: deno run --allow-net=127\.0\.0\.1:0 (\S*\/)?server\.ts --host 127\.0\.0\.1 --port 0$/,
    );
  },
});

const badServerFlags: [string[], RegExp][] = [
  [["--port", "70000"], /Invalid port "70000"/],
  [["--port", "abc"], /Invalid port "abc"/],
  [["--port"], /Flag "--port" needs a value/],
  [["--bogus"], /Unknown flag "--bogus"/],
  [["--idle-timeout=-5"], /Invalid idle timeout "-5"/],
  [["--drain-timeout", "soon"], /Invalid drain timeout "soon"/],
  [["--max-message", "0"], /Invalid maximum message size "0"/],
  [["--max-connections=-1"], /Invalid maximum connections "-1"/],
  [["--max-connections", "-1"], /Invalid maximum connections "-1"/],
  [["--backlog", "1.5"], /Invalid backlog "1\.5"/],
  [["--framing", "words"], /Invalid framing "words": expected one of chunk, line, eof/],
  [["--echo", "--reply", "x"], /cannot be used together/],
  [["--json", "--quiet"], /cannot be used together/],
  [["--echo=yes"], /Flag "--echo" takes no value/],
  [["stray"], /Unexpected argument "stray"/],
  [["--keep-alive"], /Flag "--keep-alive" needs "--framing line"/],
  [["--workers", "0"], /Invalid workers "0"/],
  [["--workers", "2", "--unix", "/tmp/x.sock"], /Flag "--workers" cannot be used with "--unix"/],
  [["--unix", "/tmp/x.sock", "--port", "1"], /Flags "--unix" and "--port" cannot be used together/],
  [["--allow", "10.0.0.0/33"], /--allow: Invalid address or range "10\.0\.0\.0\/33"/],
  [["--host="], /Invalid host ""/],
];

Deno.test({
  name: "server.ts rejects each bad flag with one line and exit code 2",
  ignore,
  async fn() {
    for (const [args, pattern] of badServerFlags) {
      const { code, stderr } = await runScript("server.ts", args);
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assertOneLineError(stderr, pattern);
      assert.match(stderr, /--help/);
    }
  },
});

Deno.test({
  name: "server.ts --help lists every flag and --version prints the version",
  ignore,
  async fn() {
    const serverHelp = decoder.decode((await runScript("server.ts", ["--help"])).stdout);
    for (
      const flag of [
        "--host",
        "--port",
        "--backlog",
        "--framing",
        "--reply",
        "--echo",
        "--max-message",
        "--idle-timeout",
        "--max-connections",
        "--drain-timeout",
        "--json",
        "--quiet",
        "--version",
      ]
    ) assert.ok(serverHelp.includes(flag), `server --help lacks ${flag}`);
    const { code, stdout } = await runScript("server.ts", ["--version"]);
    assert.equal(code, 0);
    assert.equal(decoder.decode(stdout).trim(), denoJson.version);
  },
});

Deno.test({
  name: "server.ts and client.ts talk over IPv6",
  ignore,
  async fn() {
    await using server = await startServer(["--host", "::1"]);
    const client = await runScript("client.ts", ["--host", "::1", "--port", `${server.port}`]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
    assert.match(
      await server.stdout.until((line) => line.startsWith("Got connection")),
      /^Got connection from \[::1\]:\d+$/,
    );
  },
});

Deno.test({
  name: "server.ts --json writes one JSON object per event, summary last",
  ignore,
  async fn() {
    await using server = await startServer(["--json"]);
    const client = await runScript("client.ts", ["--port", String(server.port)]);
    assert.equal(client.code, 0);
    await server.stdout.until((line) => line.includes('"event":"close"'));
    const { code, lines } = await server.stop("SIGINT");
    assert.equal(code, 0);
    const events = lines.map((line) => JSON.parse(line));
    assert.deepEqual(
      events.map((event) => event.event),
      ["listening", "connection", "message", "reply", "close", "shutdown", "summary"],
    );
    for (const event of events) assert.ok(!Number.isNaN(Date.parse(event.time)));
    const message = events[2];
    assert.equal(message.message, "Hai from client");
    assert.match(message.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(events.at(-1).connections, 1);
    assert.equal(events.at(-1).bytesOut, 21);
  },
});

const hostile = new Uint8Array([
  ...encoder.encode("\x1b[2J\x1b]0;owned\x07"),
  0x00,
  0xff,
  0xfe,
  ...encoder.encode("%c%s\u202e\n"),
]);

Deno.test({
  name: "server.ts never prints a peer's control bytes raw, readable or JSON",
  ignore,
  async fn() {
    for (const json of [false, true]) {
      await using server = await startServer(json ? ["--json"] : []);
      await using conn = await connect(server.port);
      await writeAll(conn, hostile);
      await readAll(conn);
      conn.close();
      const { lines } = await server.stop();
      const output = lines.join("\n");
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(output, /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u202e]/);
      assert.ok(output.includes(json ? "\\\\x1b[2J" : "\\x1b[2J\\x1b]0;owned\\x07\\x00\\xff\\xfe"));
      if (json) { for (const line of lines) JSON.parse(line); }
    }
  },
});

Deno.test({
  name: "server.ts drains on SIGTERM: a reply in flight arrives, then it exits 0",
  ignore,
  async fn() {
    await using server = await startServer(["--framing", "eof", "--echo", "--json"]);
    await using conn = await connect(server.port);
    await writeAll(conn, encoder.encode("started before "));
    await server.stdout.until((line) => line.includes('"event":"connection"'));
    server.child.kill("SIGTERM");
    await server.stdout.until((line) => line.includes('"event":"shutdown"'));
    await writeAll(conn, encoder.encode("the signal"));
    await conn.closeWrite();
    assert.equal(decoder.decode(await readAll(conn)), "started before the signal");
    const { code, lines } = await server.stop(null);
    assert.equal(code, 0);
    const summary = JSON.parse(lines.at(-1)!);
    assert.equal(summary.event, "summary");
    assert.equal(summary.connections, 1);
    assert.equal(summary.closedAtShutdown, 0);
  },
});

/** Runs the server on a pseudo-terminal (util-linux `script`) until its listening line. */
async function listeningLineOnTerminal(env: Record<string, string>): Promise<string> {
  const server = new URL("../server.ts", import.meta.url).pathname;
  // `timeout` bounds the server even if the terminal's hangup never reaches it.
  // `env -u` drops a NO_COLOR inherited from whoever runs the tests.
  const command = `env -u NO_COLOR ${env.NO_COLOR ? "NO_COLOR=1 " : ""}` +
    `timeout 20 '${Deno.execPath()}' run --no-prompt ` +
    `--allow-net=127.0.0.1 '${server}' --host 127.0.0.1 --port 0`;
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    output += value;
  }
  child.kill("SIGTERM");
  await reader.cancel();
  await child.stdin.close();
  await child.status;
  return output;
}

Deno.test({
  name: "server.ts colours its log on a terminal, and not under NO_COLOR",
  ignore: !(await hasProgram("script")),
  async fn() {
    const coloured = await listeningLineOnTerminal({ TERM: "xterm" });
    assert.match(coloured, /Listening on/);
    assert.ok(coloured.includes("\x1b["), "no colour on a terminal");
    const plain = await listeningLineOnTerminal({ TERM: "xterm", NO_COLOR: "1" });
    assert.match(plain, /Listening on/);
    assert.ok(!plain.includes("\x1b["), "colour under NO_COLOR");
  },
});

Deno.test({
  name: "server.ts --quiet logs only where it listens and the summary",
  ignore,
  async fn() {
    await using server = await startServer(["--quiet"]);
    const client = await runScript("client.ts", ["--port", String(server.port)]);
    assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(lines[0], /^Listening on 127\.0\.0\.1:\d+$/);
    assert.match(lines[1], /^Served 1 connection/);
  },
});
