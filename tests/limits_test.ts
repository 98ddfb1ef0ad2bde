/**
 * Slow clients against `server.ts`, each over real sockets on loopback: the
 * whole-message deadline (`--message-timeout`) and the per-address cap
 * (`--max-per-peer`) keep them from holding every slot.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendMessage, serve } from "../lib/mod.ts";
import { canSpawn, type LineReader } from "./_process.ts";
import { runScript, startServer } from "./_scripts.ts";
import { decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const ignore = !canSpawn;

/**
 * A slowloris client: sends one byte every `everyMs`, never a newline, until
 * the server closes (or 100 bytes, a bound). Resolves to what it read.
 */
async function trickle(port: number, hostname = "127.0.0.1", everyMs = 300) {
  const conn = await Deno.connect({ hostname, port });
  let closed = false;
  const reading = readAll(conn).catch(() => new Uint8Array()).finally(() => closed = true);
  const sending = (async () => {
    for (let sent = 0; sent < 100 && !closed; sent++) {
      try {
        await writeAll(conn, encoder.encode("x"));
      } catch {
        break; // the server closed: the pipe is broken
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    conn,
    /** Resolves to the bytes the server sent before it closed. */
    async closedByServer(): Promise<Uint8Array> {
      const bytes = await reading;
      await sending;
      return bytes;
    },
    /** Ends the line and resolves to the reply; empty if the server had closed. */
    async finish(): Promise<string> {
      closed = true;
      await sending;
      await writeAll(conn, encoder.encode("\n")).catch(() => {});
      const reply = decoder.decode(await reading);
      conn.close();
      return reply;
    },
  };
}

/** JSON events from a `--json` log until `count` match. */
async function events(
  stdout: LineReader,
  count: number,
  match: (event: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  while (found.length < count) {
    const event = JSON.parse(await stdout.until(() => true));
    if (match(event)) found.push(event);
  }
  return found;
}

Deno.test({
  name: "--message-timeout cuts 20 trickling clients holding every slot; the next is served",
  ignore,
  async fn() {
    await using server = await startServer([
      "--json",
      "--framing",
      "line",
      "--max-connections",
      "20",
      "--message-timeout",
      "2s",
    ]);
    const slow = await Promise.all(Array.from({ length: 20 }, () => trickle(server.port)));
    await events(server.stdout, 20, (event) => event.event === "connection");
    // Every slot is taken: this one waits in the backlog until the deadline
    // frees them. Before the deadline existed it waited for ever.
    const normal = sendMessage({ port: server.port, message: "hello\n" });
    const cuts = await events(
      server.stdout,
      20,
      (event) => event.event === "close" && event.reason === "message-timeout",
    );
    assert.equal(new Set(cuts.map((event) => event.id)).size, 20);
    assert.equal(decoder.decode((await normal).reply), "Thanks for connecting");
    // Each slow client was closed with no reply: its message never ended.
    for (const client of slow) {
      assert.equal((await client.closedByServer()).length, 0);
      client.conn.close();
    }
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    const summary = JSON.parse(lines.at(-1)!);
    assert.equal(summary.event, "summary");
    assert.equal(summary.messageTimeouts, 20);
    assert.equal(summary.connections, 21);
    assert.equal(summary.errors, 0);
  },
});

Deno.test({
  name: "--message-timeout is logged as a readable line and counted in the summary",
  ignore,
  async fn() {
    await using server = await startServer(["--framing", "line", "--message-timeout", "500ms"]);
    const slow = await trickle(server.port, "127.0.0.1", 100);
    assert.equal((await slow.closedByServer()).length, 0);
    slow.conn.close();
    const cut = await server.stdout.until((line) => line.includes("message timeout"));
    assert.match(cut, /^127\.0\.0\.1:\d+: message not whole within the message timeout, closed$/);
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    assert.match(lines.at(-1)!, /, 1 message timeout, up /);
  },
});

Deno.test({
  name: "--max-per-peer refuses one address past its cap; another address is served at once",
  ignore,
  async fn() {
    await using server = await startServer([
      "--host",
      "::",
      "--framing",
      "line",
      "--max-connections",
      "20",
      "--max-per-peer",
      "10",
    ]);
    // 20 slow clients from 127.0.0.1 (an IPv4 client of an IPv6 socket
    // counts as its IPv4 address): 10 are held, 10 refused at once.
    const slow = await Promise.all(Array.from({ length: 20 }, () => trickle(server.port)));
    const refused: string[] = [];
    while (refused.length < 10) {
      refused.push(await server.stdout.until((line) => line.includes("refused")));
    }
    for (const line of refused) {
      assert.match(
        line,
        /^\[::ffff:127\.0\.0\.1\]:\d+: refused, 10 connections already open from its address$/,
      );
    }
    // A client from another address finds a free slot while the 10 still trickle.
    const normal = await sendMessage({ hostname: "::1", port: server.port, message: "hello\n" });
    assert.equal(decoder.decode(normal.reply), "Thanks for connecting");
    // The refused were closed unanswered; the held finish their line and are answered.
    const replies = await Promise.all(slow.map((client) => client.finish()));
    assert.equal(replies.filter((reply) => reply === "").length, 10);
    assert.equal(replies.filter((reply) => reply === "Thanks for connecting").length, 10);
    // Their slots are free again: 10 more from 127.0.0.1 are served.
    for (let i = 0; i < 10; i++) {
      const again = await sendMessage({ hostname: "127.0.0.1", port: server.port });
      assert.equal(decoder.decode(again.reply), "Thanks for connecting");
    }
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    assert.match(lines.at(-1)!, /^Served 21 connections .*, 10 over the per-peer limit, up /);
  },
});

Deno.test({
  name: "--message-timeout also cuts a PROXY header that trickles in",
  ignore,
  async fn() {
    await using server = await startServer([
      "--json",
      "--proxy-protocol",
      "--message-timeout",
      "500ms",
    ]);
    await using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const header = encoder.encode("PROXY TCP4 192.0.2.7 127.0.0.1 5000 8080\r\n");
    const reading = readAll(conn).catch(() => new Uint8Array());
    let closed = false;
    reading.finally(() => closed = true);
    for (let sent = 0; sent < header.length - 1 && !closed; sent++) {
      await writeAll(conn, header.subarray(sent, sent + 1)).catch(() => closed = true);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await reading).length, 0);
    const [cut] = await events(server.stdout, 1, (event) => event.event === "close");
    assert.equal(cut.reason, "message-timeout");
  },
});

Deno.test("serve() keepAlive: the message deadline runs within a message, not between", async () => {
  const closes: string[] = [];
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "line",
    keepAlive: true,
    idleTimeout: 0,
    messageTimeout: 200,
    onEvent: (event) => event.type === "close" && closes.push(event.reason),
  });
  await using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const reply = new Uint8Array(64);
  for (const line of ["one\n", "two\n"]) {
    await writeAll(conn, encoder.encode(line));
    assert.equal(
      decoder.decode(reply.subarray(0, (await conn.read(reply))!)),
      "Thanks for connecting\n",
    );
    // A pause between lines, past the deadline: only the idle timeout
    // (here none) applies between messages.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.deepEqual(closes, []);
  assert.equal(server.stats.messageTimeouts, 0);
});

Deno.test("serve() rejects a per-peer cap where peers have no address of their own", () => {
  assert.throws(() => serve({ port: 0, maxPerPeer: 2, proxyProtocol: true }), TypeError);
  assert.throws(() => serve({ path: "/tmp/never.sock", maxPerPeer: 2 }), TypeError);
  assert.throws(() => serve({ port: 0, maxPerPeer: -1 }), RangeError);
  assert.throws(() => serve({ port: 0, messageTimeout: -1 }), RangeError);
});

Deno.test({
  name: "server.ts refuses --max-per-peer where it cannot count addresses, and a bad timeout",
  ignore,
  async fn() {
    for (
      const [args, pattern] of [
        [["--max-per-peer", "2", "--proxy-protocol"], /"--proxy-protocol" and "--max-per-peer"/],
        [["--max-per-peer", "2", "--unix", "/tmp/never.sock"], /"--unix" and "--max-per-peer"/],
        [["--max-per-peer", "-1"], /Invalid maximum connections per peer "-1"/],
        [["--message-timeout", "soon"], /Invalid message timeout "soon"/],
      ] as const
    ) {
      const { code, stderr } = await runScript("server.ts", [...args]);
      assert.equal(code, 2, stderr);
      assert.match(stderr.split("\n")[0], pattern);
    }
  },
});
