/**
 * The PROXY protocol under abuse: headers that name no client, headers
 * bigger than a message may be, health checks, slow and hostile headers,
 * and the counters that must agree with what the peers saw.
 *
 * @module
 */

import assert from "node:assert/strict";
import { serve, type ServeOptions } from "../lib/mod.ts";
import { EventRecorder } from "./_events.ts";
import { canSpawn } from "./_process.ts";
import { startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** v2, command LOCAL (a balancer's own health check), no addresses. */
const V2_LOCAL = new Uint8Array([...SIGNATURE, 0x20, 0x00, 0x00, 0x00]);
/** v2, command PROXY, family UNSPEC: the balancer does not know the client. */
const V2_UNSPEC = new Uint8Array([...SIGNATURE, 0x21, 0x00, 0x00, 0x00]);
const V1_UNKNOWN = encoder.encode("PROXY UNKNOWN\r\n");

/** A v2 header for a TCP4 client, with `padding` bytes of extensions (TLVs). */
function v2Tcp4(source: number[], sourcePort: number, padding = 0): Uint8Array {
  const body = [...source, 127, 0, 0, 1, sourcePort >> 8, sourcePort & 0xff, 0x1f, 0x90];
  // A NOOP TLV (type 0x04) of the padding's length, as HAProxy may send.
  const tlv = padding >= 3 ? [0x04, (padding - 3) >> 8, (padding - 3) & 0xff] : [];
  const length = body.length + tlv.length + Math.max(0, padding - 3);
  return new Uint8Array([
    ...SIGNATURE,
    0x21,
    0x11,
    length >> 8,
    length & 0xff,
    ...body,
    ...tlv,
    ...new Array(Math.max(0, padding - 3)).fill(0),
  ]);
}

/** One exchange with a library server; resolves to the reply, events and counters. */
async function exchange(options: ServeOptions, ...writes: Uint8Array[]) {
  const recorder = new EventRecorder();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    proxyProtocol: true,
    ...options,
    onEvent: recorder.record,
  });
  await using conn = await connect(server.addr.port);
  try {
    for (const bytes of writes) await writeAll(conn, bytes);
    await conn.closeWrite();
  } catch {
    // A refused client may find the socket closed under it: what it read says the rest.
  }
  const reply = decoder.decode(await readAll(conn).catch(() => new Uint8Array()));
  await recorder.waitFor("close");
  return { reply, recorder, stats: server.stats };
}

for (
  const [name, header] of [["v1 UNKNOWN", V1_UNKNOWN], ["v2 LOCAL", V2_LOCAL], [
    "v2 UNSPEC",
    V2_UNSPEC,
  ]] as const
) {
  Deno.test(`serve() with proxyProtocol applies --allow to the socket's address after ${name}`, async () => {
    const hai = encoder.encode("Hai from client");
    // 127.0.0.1 is not in 10.0.0.0/8: the header names nobody, so the
    // connection's own address stands, and is refused.
    const refused = await exchange({ allow: ["10.0.0.0/8"] }, header, hai);
    assert.equal(refused.reply, "");
    const event = await refused.recorder.waitFor("refused");
    assert.match(event.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(event.rule, "not in --allow");
    assert.equal(refused.recorder.ofType("message").length, 0);
    assert.equal(refused.stats.refused, 1);
    // And the same header from an allowed address is served, logged by that address.
    const allowed = await exchange({ allow: ["127.0.0.0/8"] }, header, hai);
    assert.equal(allowed.reply, "Thanks for connecting");
    assert.match((await allowed.recorder.waitFor("message")).peer, /^127\.0\.0\.1:\d+$/);
    const denied = await exchange({ deny: ["127.0.0.1"] }, header, hai);
    assert.equal(denied.reply, "");
    assert.equal((await denied.recorder.waitFor("refused")).rule, "127.0.0.1");
  });
}

Deno.test("serve() with proxyProtocol reads headers longer than --max-message in their own buffer", async () => {
  const v1 = encoder.encode("PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\n"); // 44 bytes
  for (const maxMessageBytes of [16, 40]) {
    const { reply, recorder } = await exchange(
      { maxMessageBytes, framing: "eof", echo: true },
      v1,
      encoder.encode("Hai"),
    );
    assert.equal(reply, "Hai", `--max-message ${maxMessageBytes}`);
    assert.equal((await recorder.waitFor("message")).peer, "203.0.113.7:51000");
  }
  // A v2 header with 1 KiB of extensions, past the old 1 KiB bound and the message limit.
  const v2 = v2Tcp4([198, 51, 100, 9], 40000, 1024);
  const { reply, recorder } = await exchange(
    { maxMessageBytes: 16, framing: "line", echo: true },
    v2,
    encoder.encode("Hai\n"),
  );
  assert.equal(reply, "Hai\n");
  assert.equal((await recorder.waitFor("message")).peer, "198.51.100.9:40000");
});

Deno.test("serve() with proxyProtocol refuses a v2 header past its 4 KiB bound", async () => {
  const { reply, recorder } = await exchange({}, v2Tcp4([198, 51, 100, 9], 40000, 5000));
  assert.equal(reply, "");
  const close = await recorder.waitFor("close");
  assert.equal(close.reason, "error");
  assert.equal(close.error, "PROXY v2 header is too long: 5028 bytes, at most 4096");
  assert.ok(close.bytesIn <= 4096, `read ${close.bytesIn} bytes of it`);
});

Deno.test("serve() with proxyProtocol cuts bytes sent with the header at --max-message", async () => {
  const { reply, recorder } = await exchange(
    { maxMessageBytes: 16, framing: "eof", echo: true },
    encoder.encode("PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\n" + "x".repeat(60)),
  );
  assert.equal(reply, "x".repeat(16));
  const message = await recorder.waitFor("message");
  assert.equal(message.end, "limit");
  assert.equal(message.bytes, 16);
});

Deno.test("serve() with proxyProtocol counts refusals as a socket refusal is counted", async () => {
  const byHeader = await exchange(
    { allow: ["203.0.113.0/24"] },
    encoder.encode("PROXY TCP4 198.51.100.1 127.0.0.1 1 8080\r\nHai"),
  );
  assert.equal(byHeader.reply, "");
  assert.equal((await byHeader.recorder.waitFor("close")).reason, "refused");
  const bySocket = await (async () => {
    const recorder = new EventRecorder();
    await using server = serve({
      hostname: "127.0.0.1",
      port: 0,
      allow: ["10.0.0.0/8"],
      onEvent: recorder.record,
    });
    await using conn = await connect(server.addr.port);
    await readAll(conn).catch(() => {});
    await recorder.waitFor("refused");
    return server.stats;
  })();
  for (const stats of [byHeader.stats, bySocket]) {
    assert.equal(stats.refused, 1);
    assert.equal(stats.connections, 0, "a refused peer is not a connection served");
    assert.equal(stats.errors, 0);
  }
});

Deno.test("serve() with proxyProtocol closes a health check that sends nothing quietly", async () => {
  const recorder = new EventRecorder();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    proxyProtocol: true,
    onEvent: recorder.record,
  });
  for (let i = 0; i < 3; i++) {
    const conn = await connect(server.addr.port);
    conn.close(); // connect, then close without a byte: what a TCP health check does
  }
  await recorder.waitForCount("close", 3);
  for (const close of recorder.ofType("close")) {
    assert.equal(close.reason, "done");
    assert.equal(close.error, undefined);
  }
  assert.equal(recorder.ofType("message").length, 0);
  assert.equal(server.stats.errors, 0);
});

Deno.test("serve() with proxyProtocol closes a header trickled slower than the idle timeout", async () => {
  const recorder = new EventRecorder();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    proxyProtocol: true,
    idleTimeout: 600,
    onEvent: recorder.record,
  });
  await using conn = await connect(server.addr.port);
  const started = performance.now();
  const header = encoder.encode("PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\n");
  // One byte every 100 ms: each byte would have renewed the idle timeout.
  const reading = readAll(conn);
  let sent = 0;
  try {
    for (; sent < header.length; sent++) {
      await writeAll(conn, header.subarray(sent, sent + 1));
      // The pause between bytes, cut short if the server closes.
      const closed = await recorder.waitFor("close", undefined, 100).then(() => true, () => false);
      if (closed) break;
    }
  } catch {
    // Writing after the server closed: the point of the test.
  }
  const close = await recorder.waitFor("close");
  assert.equal(close.reason, "idle");
  assert.match(close.error ?? "", /^no whole PROXY header within the idle timeout \(\d+ bytes\)$/);
  assert.ok(sent < header.length, "the whole header was accepted byte by byte");
  assert.ok(performance.now() - started < 3000);
  assert.equal((await reading.catch(() => new Uint8Array())).length, 0);
});

const HOSTILE_V1 = new Uint8Array([
  ...encoder.encode("PROXY TCP4 \x1b[2J\x1b]0;owned\x07\r"),
  0xc2,
  0x9b, // C1 CSI, valid UTF-8
  ...encoder.encode("\u202e 1 2\r\n"),
]);

Deno.test({
  name: "server.ts --proxy-protocol never writes a malformed header's bytes raw to its logs",
  ignore: !canSpawn,
  async fn() {
    for (const json of [false, true]) {
      await using server = await startServer([
        "--proxy-protocol",
        ...(json ? ["--json"] : []),
      ]);
      await using conn = await connect(server.port);
      await writeAll(conn, HOSTILE_V1);
      await readAll(conn).catch(() => {});
      const line = await server.stdout.until((line) => line.includes("Malformed PROXY"));
      const { lines } = await server.stop();
      const output = lines.join("\n");
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(output, /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u202e]/);
      if (json) {
        const event = JSON.parse(line);
        assert.equal(event.reason, "error");
        assert.match(event.error, /\\x1b\[2J\\x1b\]0;owned\\x07\\r\\u\{009b\}\\u\{202e\}/);
      } else {
        assert.match(line, /\\x1b\[2J\\x1b\]0;owned\\x07\\r\\u\{009b\}\\u\{202e\}/);
      }
    }
  },
});

Deno.test("serve() does not count a client that left in the backlog as a server error", async () => {
  // Linux hands such a client to accept() and lets the first read fail, so
  // the failure Deno reports on other systems (ECONNABORTED) is injected:
  // the first accept() of a real listener throws it, the rest are real.
  const listen = Deno.listen;
  let injected = false;
  // deno-lint-ignore no-explicit-any
  (Deno as any).listen = (options: Deno.TcpListenOptions) => {
    const listener = listen(options);
    const accept = listener.accept.bind(listener);
    listener.accept = () => {
      if (injected) return accept();
      injected = true;
      return Promise.reject(new Deno.errors.ConnectionAborted("Software caused connection abort"));
    };
    return listener;
  };
  const recorder = new EventRecorder();
  let server;
  try {
    server = serve({ hostname: "127.0.0.1", port: 0, onEvent: recorder.record });
  } finally {
    // deno-lint-ignore no-explicit-any
    (Deno as any).listen = listen;
  }
  await using _ = server;
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("Hai from client"));
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  await recorder.waitFor("close");
  const failure = await recorder.waitFor("accept-error");
  assert.equal(failure.peerGone, true);
  assert.equal(server.stats.errors, 0);
  assert.equal(server.stats.connections, 1);
});
