/**
 * `server.ts` and the signals that stop it: SIGTERM right at the
 * `Listening on` line, SIGHUP (the terminal closing), each draining to the
 * summary and exit code 0.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn, hasProgram } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const ignore = !canSpawn;

/**
 * Starts `server.ts` and sends `signal` the moment its stdout holds the
 * `Listening on` line, reading raw chunks so that nothing stands between
 * seeing the line and signalling; resolves to the exit code and the output.
 */
async function signalAtListening(
  signal: Deno.Signal,
  args: string[] = [],
  permissions?: string[],
): Promise<{ code: number; output: string; stderr: string }> {
  const child = scriptCommand("server.ts", ["--host", "127.0.0.1", "--port", "0", ...args], {
    permissions,
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let output = "";
  let signalled = false;
  for await (const chunk of child.stdout) {
    output += decoder.decode(chunk);
    if (!signalled && output.includes("Listening on ")) {
      child.kill(signal);
      signalled = true;
    }
  }
  if (!signalled) child.kill("SIGKILL");
  const { code } = await child.status;
  return { code, output, stderr: await stderr };
}

Deno.test({
  name: "server.ts drains on a SIGTERM sent the moment it prints Listening on, every time",
  ignore,
  async fn() {
    // Before the handlers went in ahead of that line, about one try in five
    // died of the signal (exit 143, no summary). Tries run a few at a time.
    const tries = 24;
    const parallel = 4;
    for (let done = 0; done < tries; done += parallel) {
      const runs = await Promise.all(
        Array.from({ length: parallel }, () => signalAtListening("SIGTERM")),
      );
      for (const { code, output, stderr } of runs) {
        assert.equal(code, 0, `output:\n${output}\nstderr:\n${stderr}`);
        assert.match(output, /^Served 0 connections/m, output);
      }
    }
  },
});

Deno.test({
  name: "server.ts --workers 2 drains on a SIGTERM sent the moment it prints Listening on",
  ignore,
  async fn() {
    const lib = new URL("../lib", import.meta.url).pathname;
    for (let done = 0; done < 6; done += 2) {
      const runs = await Promise.all(
        Array.from({ length: 2 }, () =>
          signalAtListening("SIGTERM", ["--workers", "2"], [
            "--unstable-net",
            "--allow-net=127.0.0.1",
            `--allow-read=${lib}`,
          ])),
      );
      for (const { code, output, stderr } of runs) {
        assert.equal(code, 0, `output:\n${output}\nstderr:\n${stderr}`);
        assert.match(output, /^Served 0 connections/m, output);
      }
    }
  },
});

Deno.test({
  name: "server.ts drains on SIGHUP like SIGTERM: the reply in flight arrives, then exit 0",
  ignore,
  async fn() {
    await using server = await startServer(["--framing", "eof", "--json"]);
    await using conn = await connect(server.port);
    await writeAll(conn, encoder.encode("started before "));
    await server.stdout.until((line) => line.includes('"event":"connection"'));
    server.child.kill("SIGHUP");
    const shutdown = JSON.parse(await server.stdout.until((line) => line.includes('"shutdown"')));
    assert.equal(shutdown.active, 1);
    await writeAll(conn, encoder.encode("the hang-up"));
    await conn.closeWrite();
    assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
    const { code, lines } = await server.stop(null);
    assert.equal(code, 0);
    const events = lines.map((line) => JSON.parse(line));
    assert.equal(
      events.find((event) => event.event === "message")?.message,
      "started before the hang-up",
    );
    assert.deepEqual(
      [events.at(-1).event, events.at(-1).connections, events.at(-1).errors],
      ["summary", 1, 0],
    );
  },
});

Deno.test({
  name:
    "server.ts in a terminal that closes drains and exits 0, writing to a terminal that is gone",
  ignore: !(await hasProgram("python3")),
  async fn() {
    // The server runs in a pseudo-terminal; closing its other end is what
    // closing a terminal window does: the kernel sends SIGHUP, and the
    // server's own writes then fail.
    const { success, stdout, stderr } = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "run", "--no-prompt", "--allow-net=127.0.0.1",
             sys.argv[2], "--host", "127.0.0.1", "--port", "0"])
out = b""
deadline = time.time() + 20
while b"Listening on" not in out and time.time() < deadline:
    if select.select([fd], [], [], 0.5)[0]:
        out += os.read(fd, 1024)
os.close(fd)
for _ in range(200):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, signal.SIGKILL)
    done, status = os.waitpid(pid, 0)
print("listening" if b"Listening on" in out else "never listened", os.waitstatus_to_exitcode(status))
`,
        Deno.execPath(),
        new URL("../server.ts", import.meta.url).pathname,
      ],
    }).output();
    assert.ok(success, decoder.decode(stderr));
    // Killed by SIGHUP, the exit code would be -1.
    assert.equal(decoder.decode(stdout).trim(), "listening 0");
  },
});
