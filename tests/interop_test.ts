/**
 * Interoperability with peers nobody here wrote: OpenBSD `nc` and the lab's
 * own Python programs, each on the other end of a real loopback socket
 * against `server.ts` or `client.ts` run as the user runs them.
 *
 * Every test has a time limit: the processes it spawns get SIGTERM when it
 * runs out, so a peer that hangs fails its test instead of the whole run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hasProgram, LineReader, TextCollector } from "./_process.ts";
import { scriptCommand, type ServerProcess, startServer } from "./_scripts.ts";
import { decoder, encoder, freePort } from "./_sockets.ts";

const noNc = !(await hasProgram("nc"));
const noPython = !(await hasProgram("python3"));

/** Long enough for a cold `deno run`, short enough that a hang is noticed. */
const TIME_LIMIT_MS = 20_000;

/**
 * Runs a test body with a signal that aborts after `ms`. Processes spawned
 * with the signal are killed then, which ends whatever the body awaits on
 * them; the failure is reported as the timeout, with the symptom as `cause`.
 */
async function withinTimeLimit(
  ms: number,
  body: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    await body(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) throw new Error(`Timed out after ${ms} ms`, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Kills a server started by `startServer` when the test's time is up. */
function killOnAbort(server: ServerProcess, signal: AbortSignal): void {
  signal.addEventListener("abort", () => {
    try {
      server.child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, { once: true });
}

/** Writes all of `text` to a child's stdin, then closes it (EOF for the child). */
async function writeAndClose(stdin: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = stdin.getWriter();
  await writer.write(encoder.encode(text));
  await writer.close();
}

/** Runs `client.ts` against a port with its default message, as `deno task client` would. */
function runClient(
  port: number,
  signal: AbortSignal,
  extraArgs: string[] = [],
): Promise<Deno.CommandOutput> {
  return scriptCommand("client.ts", ["--port", String(port), ...extraArgs], {
    permissions: ["--allow-net=127.0.0.1"],
    signal,
  }).output();
}

/** Asserts that the server logs the lab's two lines for one peer and one message. */
async function assertLogged(stdout: LineReader, peer: string, message: string): Promise<void> {
  const line = await stdout.until((line) => line.startsWith("Got connection from "));
  assert.equal(line, `Got connection from ${peer}`);
  assert.equal(await stdout.next(), message);
}

/**
 * Starts `nc -l` on a free port and waits until it listens. `-v` reports
 * "Listening on" once listen() has returned: something to await. Probing with
 * a connection would not do, as nc -l accepts exactly one and the probe
 * would be it. `-N` shuts its side down once its stdin ends.
 */
async function startNcListener(signal: AbortSignal) {
  const port = freePort();
  const nc = new Deno.Command("nc", {
    args: ["-v", "-n", "-N", "-l", "127.0.0.1", String(port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  const stdout = new TextCollector(nc.stdout);
  const stderr = new TextCollector(nc.stderr);
  const stop = async () => {
    // On failure, end nc and drain everything so nothing outlives the test.
    try {
      nc.kill("SIGKILL");
    } catch { /* already exited */ }
    await nc.stdin.close().catch(() => {});
    await Promise.all([stdout.rest(), stderr.rest(), nc.status]);
  };
  try {
    await stderr.until(new RegExp(`^Listening on 127\\.0\\.0\\.1 ${port}\\n`, "m"));
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, nc, stdout, stderr, stop };
}

// The lab's Python 3 programs, as they were written apart from the port:
// the lab used 8080, these take a free one so that runs never collide.

const LAB_PYTHON_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(('127.0.0.1', int(sys.argv[1])))
print(s.getsockname()[1], file=sys.stderr)  # not the lab's: lets the test find it in the log
s.send(b'Hai from client')
print(s.recv(1024).decode())
s.close()
`;

const LAB_PYTHON_SERVER = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', 0))
s.listen(5)
print(s.getsockname()[1], flush=True)  # not the lab's: port 0, so say which one
c, addr = s.accept()
print('Got connection from', addr)
print(c.recv(1024).decode())
c.send(b'Thanks for connecting')
c.close()
s.close()
`;

Deno.test({
  name: "server.ts answers an nc client like the lab",
  ignore: noNc,
  fn: () =>
    withinTimeLimit(TIME_LIMIT_MS, async (signal) => {
      await using server = await startServer();
      killOnAbort(server, signal);
      // nc never says which local port it got, so give it one to find in the log.
      const localPort = freePort();
      // -N: half-close at EOF on stdin, so the message ends there whatever the
      // framing (the default one takes the first read and needs no EOF). nc
      // exits once the server has closed its side.
      const nc = new Deno.Command("nc", {
        args: ["-n", "-N", "-p", String(localPort), "127.0.0.1", String(server.port)],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        signal,
      }).spawn();
      await writeAndClose(nc.stdin, "Hai from client");
      const { code, stdout, stderr } = await nc.output();
      assert.equal(code, 0, `nc failed: ${decoder.decode(stderr)}`);
      assert.equal(decoder.decode(stdout), "Thanks for connecting");
      await assertLogged(server.stdout, `127.0.0.1:${localPort}`, "Hai from client");
    }),
});

Deno.test({
  name: "client.ts talks to an nc listener like the lab",
  ignore: noNc,
  fn: () =>
    withinTimeLimit(TIME_LIMIT_MS, async (signal) => {
      const { port, nc, stdout: ncStdout, stderr: ncStderr, stop } = await startNcListener(
        signal,
      );
      try {
        // The reply is queued before the client connects: nc -l quits as soon
        // as its peer half-closes, and client.ts half-closes right after
        // sending, so a reply typed after the message came in would never go.
        await writeAndClose(nc.stdin, "Thanks for connecting");
        const { code, stdout, stderr } = await runClient(port, signal);
        assert.equal(code, 0, `client.ts failed: ${decoder.decode(stderr)}`);
        assert.equal(decoder.decode(stdout), "Thanks for connecting");
        assert.equal(await ncStdout.rest(), "Hai from client");
        assert.equal((await nc.status).code, 0, `nc failed: ${await ncStderr.rest()}`);
        assert.match(await ncStderr.rest(), /^Connection received on 127\.0\.0\.1 \d+$/m);
      } finally {
        await stop();
      }
    }),
});

Deno.test({
  name: "client.ts --no-half-close waits for a reply typed into nc -l after the message",
  ignore: noNc,
  fn: () =>
    withinTimeLimit(TIME_LIMIT_MS, async (signal) => {
      const { port, nc, stdout: ncStdout, stop } = await startNcListener(signal);
      try {
        const client = runClient(port, signal, ["--no-half-close"]);
        // Like a person at the nc terminal: read the message, then answer.
        await ncStdout.until(/Hai from client/);
        await writeAndClose(nc.stdin, "typed reply");
        const { code, stdout, stderr } = await client;
        assert.equal(code, 0, `client.ts failed: ${decoder.decode(stderr)}`);
        assert.equal(decoder.decode(stdout), "typed reply");
        assert.equal(decoder.decode(stderr), "");
      } finally {
        await stop();
      }
    }),
});

Deno.test({
  name: "server.ts answers the lab's Python client",
  ignore: noPython,
  fn: () =>
    withinTimeLimit(TIME_LIMIT_MS, async (signal) => {
      await using server = await startServer();
      killOnAbort(server, signal);
      const { code, stdout, stderr } = await new Deno.Command("python3", {
        args: ["-c", LAB_PYTHON_CLIENT, String(server.port)],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal,
      }).output();
      assert.equal(code, 0, `python3 failed: ${decoder.decode(stderr)}`);
      assert.equal(decoder.decode(stdout), "Thanks for connecting\n");
      const localPort = decoder.decode(stderr).trim();
      await assertLogged(server.stdout, `127.0.0.1:${localPort}`, "Hai from client");
    }),
});

Deno.test({
  name: "client.ts talks to the lab's Python server",
  ignore: noPython,
  fn: () =>
    withinTimeLimit(TIME_LIMIT_MS, async (signal) => {
      const python = new Deno.Command("python3", {
        args: ["-c", LAB_PYTHON_SERVER],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal,
      }).spawn();
      const pythonStdout = new LineReader(python.stdout);
      const pythonStderr = new Response(python.stderr).text();
      try {
        const portLine = await pythonStdout.next();
        // At EOF python3 has exited, so its stderr is complete and says why.
        if (portLine === null) throw new Error(`python3 printed no port: ${await pythonStderr}`);
        assert.match(portLine, /^\d+$/);
        const { code, stdout, stderr } = await runClient(Number(portLine), signal);
        assert.equal(code, 0, `client.ts failed: ${decoder.decode(stderr)}`);
        assert.equal(decoder.decode(stdout), "Thanks for connecting");
        assert.equal((await python.status).code, 0, `python3 failed: ${await pythonStderr}`);
        const [, greeting, message] = await pythonStdout.rest();
        assert.match(greeting, /^Got connection from \('127\.0\.0\.1', \d+\)$/);
        assert.equal(message, "Hai from client");
      } finally {
        try {
          python.kill("SIGKILL");
        } catch { /* already exited */ }
        await Promise.all([pythonStdout.rest(), pythonStderr, python.status]);
      }
    }),
});
