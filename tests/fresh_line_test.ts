/**
 * `client.ts -i` on a terminal: when the server closes while half a line is
 * typed, the closing note starts a line of its own instead of being glued
 * to the typed text.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn, hasProgram } from "./_process.ts";
import { startServer } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

Deno.test({
  name: "client.ts -i starts the closing note on a fresh line after half a typed line",
  ignore: !canSpawn || !(await hasProgram("python3")),
  async fn() {
    await using server = await startServer([
      "--framing",
      "line",
      "--keep-alive",
      "--idle-timeout",
      "1s",
    ]);
    // The pty is 80 columns wide; a small terminal model replays what the
    // client wrote and says on which row and column "note:" begins.
    const { success, stdout, stderr } = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "run", "--no-prompt", "--allow-net=127.0.0.1",
             sys.argv[2], "-i", "--port", sys.argv[3]])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
out = b""
def read(until, seconds):
    global out
    deadline = time.time() + seconds
    while until not in out and time.time() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
read(b"Connected to", 20)
os.write(fd, b"half typed")
read(b"closed the connection", 10)
read(b"\\n", 2)
os.kill(pid, 9) if os.waitpid(pid, os.WNOHANG)[0] == 0 else None
text = out.decode(errors="replace")
row, col, pending, at = 0, 0, False, None
typed_row = None
i = 0
while i < len(text):
    ch = text[i]
    if text.startswith("half typed", i):
        typed_row = row
    if text.startswith("note:", i):
        at = (row, col)
        break
    if ch == "\\x1b":
        while i < len(text) and not text[i].isalpha() or text[i] == "\\x1b":
            i += 1
    elif ch == "\\r":
        col, pending = 0, False
    elif ch == "\\n":
        row, col, pending = row + 1, 0, False
    else:
        if pending:
            row, col, pending = row + 1, 0, False
        col += 1
        if col == 80:
            col, pending = 79, True
    i += 1
print(typed_row is not None and at is not None and at[0] > typed_row and at[1] == 0)
sys.stderr.write(repr(text))
`,
        Deno.execPath(),
        new URL("../client.ts", import.meta.url).pathname,
        String(server.port),
      ],
    }).output();
    assert.ok(success, decoder.decode(stderr));
    assert.equal(decoder.decode(stdout).trim(), "True", decoder.decode(stderr));
  },
});
