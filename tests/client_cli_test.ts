/**
 * `client.ts` as a process, as a user runs it: the message from arguments
 * or stdin, `--json`, its flags and their one-line errors, `--help` and
 * `--version`. When an exchange goes wrong or grows large, see
 * client_cli_faults_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { canSpawn } from "./_process.ts";
import { assertOneLineError, runScript, scriptCommand, startServer } from "./_scripts.ts";
import { decoder, encoder, freePort, readAll } from "./_sockets.ts";

const ignore = !canSpawn;

Deno.test({
  name: "client.ts sends piped standard input byte for byte",
  ignore,
  async fn() {
    await using server = await startServer(["--framing", "eof", "--echo"]);
    const input = new Uint8Array([...encoder.encode("line one\nline two\n"), 0x00, 0xff]);
    const client = await runScript("client.ts", ["--port", String(server.port)], { stdin: input });
    assert.equal(client.code, 0, client.stderr);
    assert.deepEqual(client.stdout, input);
  },
});

Deno.test({
  name: "client.ts takes the message as an argument or with --message",
  ignore,
  async fn() {
    await using server = await startServer(["--echo"]);
    const port = String(server.port);
    const positional = await runScript("client.ts", ["--port", port, "hello", "there"]);
    assert.equal(decoder.decode(positional.stdout), "hello there");
    const flag = await runScript("client.ts", ["--port", port, "-m", "from a flag"]);
    assert.equal(decoder.decode(flag.stdout), "from a flag");
  },
});

Deno.test({
  name: "client.ts --json prints the reply, byte counts and timings",
  ignore,
  async fn() {
    await using server = await startServer();
    const client = await runScript("client.ts", ["--port", String(server.port), "--json"]);
    assert.equal(client.code, 0, client.stderr);
    const result = JSON.parse(decoder.decode(client.stdout));
    assert.equal(result.reply, "Thanks for connecting");
    assert.equal(result.bytesSent, 15);
    assert.equal(result.bytesReceived, 21);
    assert.equal(result.remote, `127.0.0.1:${server.port}`);
    for (const key of ["connectMs", "firstByteMs", "totalMs"]) {
      assert.equal(typeof result[key], "number", key);
    }
  },
});

Deno.test({
  name: "client.ts exits 1 with one line when the connection is refused",
  ignore,
  async fn() {
    const port = freePort();
    const client = await runScript("client.ts", ["--port", String(port)]);
    assert.equal(client.code, 1);
    assertOneLineError(
      client.stderr,
      new RegExp(`Cannot connect to "127\\.0\\.0\\.1:${port}": connection refused`),
    );
  },
});

Deno.test({
  name: "client.ts exits 1 when the server reads the message and closes without a reply",
  ignore,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const serverSide = (async () => {
      const conn = await listener.accept();
      await readAll(conn); // the whole message, up to the client's half-close
      conn.close();
    })();
    const client = await runScript("client.ts", ["--port", String(port)]);
    await serverSide;
    // From the client's side this looks just like a refusal: no reply.
    assert.equal(client.code, 1);
    assert.equal(client.stdout.length, 0);
    assertOneLineError(
      client.stderr,
      new RegExp(`^error: "127\\.0\\.0\\.1:${port}" closed the connection without a reply; `),
    );
    assert.doesNotMatch(client.stderr, /--no-half-close/);
  },
});

Deno.test({
  name:
    "client.ts: a missing permission names the command to run, with the --allow-net flag to add",
  ignore,
  async fn() {
    const client = await runScript("client.ts", ["--port", "9"], {
      permissions: ["--allow-net=127.0.0.1:8080"],
    });
    assert.equal(client.code, 1);
    assertOneLineError(
      client.stderr,
      /this works: deno run --allow-net=127\.0\.0\.1:9 (\S*\/)?client\.ts --port 9$/,
    );
  },
});

const badClientFlags: [string[], RegExp][] = [
  [["--port", "0"], /Invalid port "0": expected a whole number from 1 to 65535/],
  [["--port", "70000"], /Invalid port "70000"/],
  [["-p", "abc"], /Invalid port "abc"/],
  [["--timeout=-1s"], /Invalid timeout "-1s"/],
  [["--timeout", "-1s"], /Invalid timeout "-1s"/],
  [["--timeout"], /Flag "--timeout" needs a value/],
  [["-x"], /Unknown flag "-x"/],
  [["--connect-timeout", "fast"], /Invalid connect timeout "fast"/],
  [["--max-reply", "0"], /Invalid maximum reply size "0"/],
  [["--unknown"], /Unknown flag "--unknown"/],
  [["-m", "a", "b"], /not both/],
  [["--connections", "0"], /Invalid connections "0"/],
  [["--unix", "/tmp/x.sock", "--host", "::1"], /Flags "--unix" and "--host" cannot be used/],
  [["--unix", "/tmp/x.sock", "-c", "2"], /Flag "--unix" is not supported in load mode yet/],
  [["--tls", "--load"], /Flag "--tls" is not supported in load mode yet: load a TCP port$/],
  [["--ca", "ca.pem", "-n", "5"], /Flag "--ca" is not supported in load mode yet/],
  [["--connect-timeout", "1s", "--load"], /--timeout limits a whole cycle, connect included$/],
  [["--max-reply", "1MiB", "--load"], /each cycle reads the reply and discards it$/],
  [["-d", "soon"], /Invalid duration "soon"/],
  [["-i", "hello"], /Flag "--interactive" sends what you type: give no MESSAGE or "--message"/],
  [["-i", "-m", "hello"], /Flag "--interactive" sends what you type/],
  [["--interactive", "--json"], /Flags "--interactive" and "--json" cannot be used together/],
  [["-i", "-c", "2"], /Flag "--interactive" does not apply in load mode/],
  [["--crlf", "--load"], /Flag "--crlf" does not apply in load mode/],
  [["--crlf=yes"], /Flag "--crlf" takes no value/],
  [["-n", "1.5"], /Invalid count "1\.5"/],
];

Deno.test({
  name: "client.ts rejects each bad flag with one line and exit code 2",
  ignore,
  async fn() {
    for (const [args, pattern] of badClientFlags) {
      const { code, stderr } = await runScript("client.ts", args);
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assertOneLineError(stderr, pattern);
    }
  },
});

Deno.test({
  name: "client.ts refuses --duration 0, which would run a load forever",
  ignore,
  async fn() {
    // Against a closed port every cycle is refused at once: without the check
    // the run would never end, so the signal bounds the test.
    const port = String(freePort());
    for (const args of [["-d", "0"], ["--duration", "0s", "-c", "1"]]) {
      const { code, stderr } = await scriptCommand("client.ts", ["--port", port, ...args], {
        signal: AbortSignal.timeout(15_000),
      }).output();
      assert.equal(code, 2, `${args.join(" ")}: ${decoder.decode(stderr)}`);
      assertOneLineError(decoder.decode(stderr), /Invalid duration "0s?": expected more than 0/);
    }
  },
});

Deno.test({
  name: "client.ts reaches localhost whether the server is on 0.0.0.0 or ::1",
  ignore,
  async fn() {
    const permissions = ["--allow-net=localhost,127.0.0.1,[::1],0.0.0.0,[::]"];
    for (const host of ["0.0.0.0", "::1"]) {
      // A later --host wins over the helper's 127.0.0.1.
      await using server = await startServer(["--host", host]);
      const port = String(server.port);
      const client = await runScript("client.ts", ["--host", "localhost", "--port", port], {
        permissions,
      });
      assert.equal(client.code, 0, `${host}: ${client.stderr}`);
      assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
    }
  },
});

Deno.test({
  name: "client.ts connects, then times out on a piped stdin that stays open and silent",
  ignore,
  async fn() {
    await using server = await startServer(["--framing", "eof", "--json"]);
    const child = scriptCommand(
      "client.ts",
      ["--port", String(server.port), "--timeout", "300ms"],
      { stdin: "piped" }, // held open, never written
    ).spawn();
    const { code, stderr } = await child.output();
    await child.stdin.close();
    assert.equal(code, 1);
    assertOneLineError(decoder.decode(stderr), /nothing moved for 300 ms$/);
    await server.stdout.until((line) => line.includes('"event":"connection"'));
  },
});

Deno.test({
  name: "client.ts -h lists every flag and --version prints the version",
  ignore,
  async fn() {
    const clientHelp = decoder.decode((await runScript("client.ts", ["-h"])).stdout);
    for (
      const flag of [
        "--host",
        "--port",
        "--message",
        "--connect-timeout",
        "--timeout",
        "--max-reply",
        "--json",
        "--interactive",
        "--crlf",
      ]
    ) assert.ok(clientHelp.includes(flag), `client --help lacks ${flag}`);
    const { code, stdout } = await runScript("client.ts", ["--version"]);
    assert.equal(code, 0);
    assert.equal(decoder.decode(stdout).trim(), denoJson.version);
  },
});
