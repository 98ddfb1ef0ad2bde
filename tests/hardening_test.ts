/**
 * Faults and abuse, each against `server.ts` started as its own process on
 * loopback: idle hordes, oversized messages, resets, descriptor exhaustion,
 * shutdown under load, 10,000 connections, hostile bytes. Access rules are
 * in access_rules_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage } from "../lib/mod.ts";
import { startResettingPeer } from "./_peers.ts";
import { canSpawn, hasProgram, type LineReader, residentBytes } from "./_process.ts";
import { startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const ignore = !canSpawn;

/** The JSON events a `--json` server has logged until `count` of them match. */
async function awaitEvents(
  stdout: LineReader,
  count: number,
  match: (event: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Only ${found.length} of ${count} events within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    while (found.length < count) {
      const line = await Promise.race([stdout.next(), deadline]);
      if (line === null) {
        throw new Error(`The log ended after ${found.length} of ${count} events`);
      }
      const event = JSON.parse(line);
      if (match(event)) found.push(event);
    }
    return found;
  } finally {
    clearTimeout(timer);
  }
}

/** The hard limit on open files, which the tests raise the server's soft limit to. */
async function hardFileLimit(): Promise<number> {
  if (!canSpawn) return 0;
  const { stdout } = await new Deno.Command("sh", { args: ["-c", "ulimit -Hn"] }).output();
  const text = decoder.decode(stdout).trim();
  return text === "unlimited" ? Infinity : Number(text);
}

async function lab(port: number): Promise<string> {
  return decoder.decode((await sendMessage({ port })).reply);
}

Deno.test({
  name: "1,000 idle connections: a normal client is served at once, the idle are timed out",
  ignore,
  async fn() {
    await using server = await startServer(["--json", "--idle-timeout", "1s"]);
    const idle = await Promise.all(Array.from({ length: 1000 }, () => connect(server.port)));
    try {
      await awaitEvents(server.stdout, 1000, (event) => event.event === "connection");
      assert.equal(await lab(server.port), "Thanks for connecting");
      // "At once": the normal client's exchange closed before any idle one
      // did. Had it waited for them (a connection limit, a blocked loop), the
      // idle timeouts would come first.
      const [first] = await awaitEvents(server.stdout, 1, (event) => event.event === "close");
      assert.equal(first.reason, "done");
      const closes = await awaitEvents(
        server.stdout,
        1000,
        (event) => event.event === "close" && event.reason === "idle",
      );
      assert.equal(closes.length, 1000);
      // Every idle client sees the server close: EOF, no reply.
      const replies = await Promise.all(idle.map(readAll));
      assert.ok(replies.every((reply) => reply.length === 0));
    } finally {
      for (const conn of idle) conn.close();
    }
  },
});

Deno.test({
  name: "a 100 MiB message hits the default size limit: closed, logged, memory bounded",
  ignore,
  async fn() {
    await using server = await startServer(["--json", "--framing", "eof"]);
    // Warm up, so that what is measured is the message and not start-up.
    for (let i = 0; i < 3; i++) assert.equal(await lab(server.port), "Thanks for connecting");
    const before = await residentBytes(server.child.pid);
    await using conn = await connect(server.port);
    const block = new Uint8Array(1024 * 1024).fill(0x61);
    let sent = 0;
    const reading = readAll(conn);
    try {
      for (; sent < 100; sent++) await writeAll(conn, block);
    } catch (error) {
      // The server stops reading at the limit and closes: writing fails.
      assert.ok(
        error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset,
      );
    }
    assert.ok(sent < 100, "the server read all 100 MiB");
    await reading.catch(() => {});
    const [close] = await awaitEvents(
      server.stdout,
      1,
      (event) => event.event === "close" && (event.bytesIn as number) > 1000,
    );
    assert.equal(close.reason, "limit");
    const growth = (await residentBytes(server.child.pid)) - before;
    // The limit (1 MiB) plus a small constant for the runtime's own buffers.
    assert.ok(growth <= 1024 * 1024 + 16 * 1024 * 1024, `RSS grew by ${growth} bytes`);
    assert.equal(await lab(server.port), "Thanks for connecting");
  },
});

Deno.test({
  name: "a client that resets mid-message is logged and affects no one else",
  ignore: !(await hasProgram("python3")),
  async fn() {
    await using server = await startServer(["--framing", "eof", "--json"]);
    await using bystander = await connect(server.port);
    await writeAll(bystander, encoder.encode("I was here first"));
    await awaitEvents(server.stdout, 1, (event) => event.event === "connection");
    const peer = startResettingPeer(server.port, "half a mess");
    await awaitEvents(server.stdout, 1, (event) => event.event === "connection");
    await peer.reset();
    const [close] = await awaitEvents(server.stdout, 1, (event) => event.event === "close");
    assert.equal(close.reason, "reset");
    assert.match(close.peer as string, /^127\.0\.0\.1:\d+$/);
    await bystander.closeWrite();
    assert.equal(decoder.decode(await readAll(bystander)), "Thanks for connecting");
    assert.equal(await lab(server.port), "Thanks for connecting");
  },
});

Deno.test({
  name: "file descriptors exhausted (soft limit 256, 456 held): no crash, then served again",
  ignore,
  async fn() {
    await using server = await startServer(["--idle-timeout", "0"], { shell: "ulimit -n 256;" });
    const held: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 456; i++) held.push(await connect(server.port));
      const failure = await server.stdout.until((line) => line.startsWith("Cannot accept"));
      assert.match(failure, /Too many open files/);
    } finally {
      for (const conn of held) conn.close();
    }
    await server.stdout.until((line) => line.startsWith("Accepting connections again"));
    assert.equal(await lab(server.port), "Thanks for connecting");
    const { code, lines } = await server.stop();
    assert.equal(code, 0, "the server did not crash");
    // One line when accepting starts failing, one when it works again.
    const failed = lines.filter((line) => line.startsWith("Cannot accept"));
    const resumed = lines.filter((line) => line.startsWith("Accepting connections again"));
    assert.equal(failed.length, resumed.length, lines.join("\n"));
  },
});

Deno.test({
  name: "SIGTERM with 200 slow clients in flight: each gets its whole reply, the rest are cut",
  ignore,
  async fn() {
    await using server = await startServer([
      "--json",
      "--framing",
      "eof",
      "--echo",
      "--drain-timeout",
      "3s",
    ]);
    const finishers = await Promise.all(Array.from({ length: 200 }, () => connect(server.port)));
    const laggards = await Promise.all(Array.from({ length: 10 }, () => connect(server.port)));
    for (const [index, conn] of [...finishers, ...laggards].entries()) {
      await writeAll(conn, encoder.encode(`client ${index}: `));
    }
    await awaitEvents(server.stdout, 210, (event) => event.event === "connection");
    server.child.kill("SIGTERM");
    await awaitEvents(server.stdout, 1, (event) => event.event === "shutdown");
    // Slow: each finisher sends the rest of its message in pieces.
    const replies = await Promise.all(finishers.map(async (conn, index) => {
      for (const piece of ["after ", "the ", "signal"]) await writeAll(conn, encoder.encode(piece));
      await conn.closeWrite();
      const reply = decoder.decode(await readAll(conn));
      conn.close();
      return reply === `client ${index}: after the signal`;
    }));
    // The laggards never finish: past the deadline they are closed, having
    // had the echo of what they sent and no more.
    const cut = await Promise.all(laggards.map(async (conn, index) => {
      const reply = decoder.decode(await readAll(conn));
      conn.close();
      return reply === `client ${finishers.length + index}: `;
    }));
    const { code, lines } = await server.stop(null);
    assert.equal(code, 0);
    assert.equal(replies.filter(Boolean).length, 200);
    assert.equal(cut.filter(Boolean).length, 10);
    const summary = JSON.parse(lines.at(-1)!);
    assert.equal(summary.event, "summary");
    assert.equal(summary.connections, 210);
    assert.equal(summary.messages, 200);
    assert.equal(summary.closedAtShutdown, 10);
    assert.equal(summary.errors, 0);
  },
});

const CONCURRENT = 10_000;

Deno.test({
  name: "10,000 concurrent connections are all served with zero errors",
  // The test process holds one end of each connection and the server the other.
  ignore: ignore || (await hardFileLimit()) < CONCURRENT + 1000,
  async fn() {
    await using server = await startServer(
      ["--max-connections", String(CONCURRENT), "--json"],
      { shell: 'ulimit -n "$(ulimit -Hn)";' },
    );
    const message = encoder.encode("Hai from client");
    const results = await Promise.allSettled(
      Array.from({ length: CONCURRENT }, async () => {
        const conn = await connect(server.port);
        try {
          await writeAll(conn, message);
          return decoder.decode(await readAll(conn));
        } finally {
          conn.close();
        }
      }),
    );
    const served = results.filter((result) =>
      result.status === "fulfilled" && result.value === "Thanks for connecting"
    ).length;
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    assert.equal(served, CONCURRENT);
    const summary = JSON.parse(lines.at(-1)!);
    assert.equal(summary.connections, CONCURRENT);
    assert.equal(summary.errors, 0);
  },
});

const hostile = new Uint8Array([
  ...encoder.encode("\x1b[2J\x1b]0;owned\x07"),
  0x00,
  0xff,
  0xfe,
  ...encoder.encode("%c%s\u202e"),
  ...new Uint8Array(1024 * 1024).fill(0x78), // a 1 MiB line
  0x0a,
]);

Deno.test({
  name: "escape sequences, NUL, invalid UTF-8 and a 1 MiB line never reach the terminal raw",
  ignore,
  async fn() {
    for (const json of [false, true]) {
      await using server = await startServer([
        "--framing",
        "line",
        "--max-message",
        "2MiB",
        ...(json ? ["--json"] : []),
      ]);
      await using conn = await connect(server.port);
      await writeAll(conn, hostile);
      assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
      conn.close();
      const { lines } = await server.stop();
      const output = lines.join("\n");
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(output, /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u202e]/);
      if (json) {
        const message = lines.map((line) => JSON.parse(line)).find((event) =>
          event.event === "message"
        );
        assert.ok(message.message.startsWith("\\x1b[2J\\x1b]0;owned\\x07\\x00\\xff\\xfe%c%s"));
        assert.equal(message.bytes, hostile.length);
      } else {
        const shown = lines.find((line) => line.startsWith("\\x1b[2J"));
        assert.ok(shown, output.slice(0, 500));
        assert.match(shown, /… \(1,044,\d{3} more bytes\)$/, "a 1 MiB line is cut for the log");
      }
    }
  },
});
