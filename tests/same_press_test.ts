/**
 * One Ctrl-C is one press: under `deno task` the script gets SIGINT twice
 * about a millisecond apart (from the terminal, and forwarded by the task),
 * and must drain as for one; a press after the window still stops at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn, hasProgram, LineReader } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";
import { root } from "./_commands.ts";

const ignore = !canSpawn || Deno.build.os === "windows";
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends SIGINT, then again `gapMs` later, as `deno task` and a terminal do. */
async function interruptTwice(child: Deno.ChildProcess, gapMs: number): Promise<void> {
  child.kill("SIGINT");
  await delay(gapMs);
  try {
    child.kill("SIGINT");
  } catch { /* already exited */ }
}

for (const workers of [1, 2]) {
  const args = workers > 1 ? ["--workers", String(workers)] : [];
  Deno.test({
    name: `server.ts ${
      workers > 1 ? "--workers 2 " : ""
    }drains on two SIGINTs 1 ms apart, as one Ctrl-C under deno task`,
    ignore,
    async fn() {
      const lib = new URL("../lib", import.meta.url).pathname;
      const child = scriptCommand(
        "server.ts",
        ["--host", "127.0.0.1", "--port", "0", "--framing", "eof", "--json", ...args],
        {
          permissions: workers > 1
            ? ["--unstable-net", "--allow-net=127.0.0.1", `--allow-read=${lib}`]
            : ["--allow-net=127.0.0.1"],
          signal: AbortSignal.timeout(30_000),
        },
      ).spawn();
      const stdout = new LineReader(child.stdout);
      const stderr = new Response(child.stderr).text();
      const listening = JSON.parse(await stdout.until((line) => line.includes('"listening"')));
      await using conn = await connect(Number(listening.address.split(":").pop()));
      await writeAll(conn, encoder.encode("started before "));
      await stdout.until((line) => line.includes('"event":"connection"'));
      await interruptTwice(child, 1);
      await stdout.until((line) => line.includes('"shutdown"'));
      await writeAll(conn, encoder.encode("Ctrl-C"));
      await conn.closeWrite();
      assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
      const lines = await stdout.rest();
      const { code } = await child.status;
      assert.equal(code, 0, await stderr);
      assert.equal(JSON.parse(lines.at(-1)!).event, "summary");
    },
  });
}

Deno.test({
  name: "server.ts stops at once (exit 130) on a second SIGINT after the same-press window",
  ignore,
  async fn() {
    await using server = await startServer(["--framing", "eof", "--json"]);
    await using conn = await connect(server.port);
    await writeAll(conn, encoder.encode("never finished"));
    await server.stdout.until((line) => line.includes('"event":"connection"'));
    await interruptTwice(server.child, 400);
    const { code, lines } = await server.stop(null);
    assert.equal(code, 130);
    assert.ok(!lines.some((line) => line.includes('"summary"')), lines.join("\n"));
  },
});

Deno.test({
  name: "client.ts load mode prints its report on two SIGINTs 5 ms apart, as one Ctrl-C",
  ignore,
  async fn() {
    // A server that takes half a second to answer, so that the run is still
    // finishing its cycles in flight when the repeat arrives.
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let accepted!: () => void;
    const first = new Promise<void>((resolve) => accepted = resolve);
    const serving = (async () => {
      for await (const conn of listener) {
        accepted();
        (async () => {
          await readAll(conn);
          await delay(500);
          await writeAll(conn, encoder.encode("slow reply"));
          conn.close();
        })().catch(() => {});
      }
    })().catch(() => {});
    const child = scriptCommand("client.ts", [
      "--port",
      String((listener.addr as Deno.NetAddr).port),
      "--connections",
      "2",
      "--duration",
      "60s",
      "--json",
    ], { signal: AbortSignal.timeout(30_000) }).spawn();
    await first;
    // 1 ms apart, the two may reach the process as one signal; 5 ms apart
    // they arrive as two, still well inside the window.
    await interruptTwice(child, 5);
    const { code, stdout, stderr } = await child.output();
    assert.equal(code, 0, decoder.decode(stderr));
    const report = JSON.parse(decoder.decode(stdout));
    assert.equal(report.cycles, 2);
    assert.deepEqual(report.errors, {});
    listener.close();
    await serving;
  },
});

Deno.test({
  name: "deno task server in a terminal drains on one Ctrl-C and exits 0 with its summary",
  ignore: ignore || !(await hasProgram("python3")),
  async fn() {
    // Ctrl-C typed into a pseudo-terminal: the kernel signals the whole
    // foreground process group, `deno task` and the server, and the task
    // forwards its own SIGINT to the server as well.
    const { success, stdout, stderr } = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import os, pty, re, select, socket, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.chdir(sys.argv[2])
    os.execv(sys.argv[1], [sys.argv[1], "task", "server", "--host", "127.0.0.1", "--port", "0",
             "--framing", "eof"])
out = b""
def read_until(pattern, seconds):
    global out
    deadline = time.time() + seconds
    while not re.search(pattern, out) and time.time() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
read_until(rb"Listening on [^\\r\\n]*:(\\d+)", 20)
port = int(re.search(rb"Listening on [^\\r\\n]*:(\\d+)", out).group(1))
conn = socket.create_connection(("127.0.0.1", port))
conn.sendall(b"typed before ")
time.sleep(0.3)
os.write(fd, b"\\x03")
read_until(rb"Shutting down", 10)
conn.sendall(b"the Ctrl-C")
conn.shutdown(socket.SHUT_WR)
reply = b""
while True:
    data = conn.recv(4096)
    if not data:
        break
    reply += data
read_until(rb"Served \\d+ connection", 10)
for _ in range(200):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    done, status = os.waitpid(pid, 0)
print(reply.decode(), os.waitstatus_to_exitcode(status), b"Served" in out)
sys.stderr.write(out.decode(errors="replace"))
`,
        Deno.execPath(),
        root,
      ],
      env: { DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    assert.ok(success, decoder.decode(stderr));
    assert.equal(
      decoder.decode(stdout).trim(),
      "Thanks for connecting 0 True",
      decoder.decode(stderr),
    );
  },
});
