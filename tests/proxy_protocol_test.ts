import assert from "node:assert/strict";
import { parseProxyHeader, ProxyProtocolError, serve, type ServeOptions } from "../lib/mod.ts";
import { EventRecorder } from "./_events.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A PROXY v2 header for a TCP client, built by hand as a balancer would. */
function v2Header(source: number[], sourcePort: number, family: "tcp4" | "tcp6"): Uint8Array {
  const destination = family === "tcp4" ? [127, 0, 0, 1] : [...Array(15).fill(0), 1];
  const ports = [sourcePort >> 8, sourcePort & 0xff, 0x1f, 0x90];
  const body = [...source, ...destination, ...ports];
  return new Uint8Array([
    ...SIGNATURE,
    0x21, // version 2, PROXY
    family === "tcp4" ? 0x11 : 0x21,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}

Deno.test("parseProxyHeader() reads v1 headers for TCP4, TCP6 and UNKNOWN", () => {
  const v1 = (text: string) => encoder.encode(text);
  assert.deepEqual(parseProxyHeader(v1("PROXY TCP4 203.0.113.7 10.0.0.1 51000 8080\r\nHai")), {
    source: { hostname: "203.0.113.7", port: 51000 },
    length: 44,
  });
  assert.deepEqual(parseProxyHeader(v1("PROXY TCP6 2001:db8::7 ::1 51000 8080\r\n")), {
    source: { hostname: "2001:db8::7", port: 51000 },
    length: 39,
  });
  assert.deepEqual(parseProxyHeader(v1("PROXY UNKNOWN\r\n")), { length: 15 });
  assert.equal(parseProxyHeader(v1("PROXY TCP4 203.0")), "incomplete");
  assert.equal(parseProxyHeader(v1("PRO")), "incomplete");
  assert.throws(() => parseProxyHeader(v1("PROXY TCP4 nonsense\r\n")), ProxyProtocolError);
  assert.throws(() => parseProxyHeader(v1("Hai from client")), /Missing PROXY protocol header/);
});

Deno.test("parseProxyHeader() reads v2 headers for TCP4, TCP6 and LOCAL", () => {
  assert.deepEqual(parseProxyHeader(v2Header([198, 51, 100, 9], 40000, "tcp4")), {
    source: { hostname: "198.51.100.9", port: 40000 },
    length: 28,
  });
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x07];
  assert.deepEqual(parseProxyHeader(v2Header(v6, 443, "tcp6")), {
    source: { hostname: "2001:db8::7", port: 443 },
    length: 52,
  });
  const local = new Uint8Array([...SIGNATURE, 0x20, 0x00, 0x00, 0x00]);
  assert.deepEqual(parseProxyHeader(local), { length: 16 });
  assert.equal(parseProxyHeader(v2Header([1, 2, 3, 4], 1, "tcp4").subarray(0, 20)), "incomplete");
});

async function exchange(options: ServeOptions, ...writes: Uint8Array[]) {
  const recorder = new EventRecorder();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    ...options,
    onEvent: recorder.record,
  });
  await using conn = await connect(server.addr.port);
  for (const bytes of writes) {
    await writeAll(conn, bytes);
    await new Promise((resolve) => setTimeout(resolve, 5)); // let writes arrive apart
  }
  await conn.closeWrite();
  const reply = decoder.decode(await readAll(conn));
  conn.close();
  await recorder.waitFor("close");
  return { reply, recorder, stats: server.stats };
}

Deno.test("serve() with proxyProtocol logs the client named in a v1 header", async () => {
  const { reply, recorder } = await exchange(
    { proxyProtocol: true },
    encoder.encode("PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\nHai from client"),
  );
  assert.equal(reply, "Thanks for connecting");
  const message = await recorder.waitFor("message");
  assert.equal(message.peer, "203.0.113.7:51000");
  assert.equal(decoder.decode(message.data), "Hai from client");
});

Deno.test("serve() with proxyProtocol reads a v2 header that arrives in pieces", async () => {
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x07];
  const header = v2Header(v6, 443, "tcp6");
  const { reply, recorder } = await exchange(
    { proxyProtocol: true, framing: "eof", echo: true },
    header.subarray(0, 10),
    header.subarray(10),
    encoder.encode("after the header"),
  );
  assert.equal(reply, "after the header");
  assert.equal((await recorder.waitFor("message")).peer, "[2001:db8::7]:443");
});

Deno.test("serve() with proxyProtocol closes a connection without a header, unanswered", async () => {
  const { reply, recorder, stats } = await exchange(
    { proxyProtocol: true },
    encoder.encode("Hai from client"),
  );
  assert.equal(reply, "");
  const close = await recorder.waitFor("close");
  assert.equal(close.reason, "error");
  assert.match(close.error ?? "", /Missing PROXY protocol header/);
  assert.equal(stats.errors, 1);
});

Deno.test("serve() with proxyProtocol allows and denies by the header's address", async () => {
  const options = { proxyProtocol: true, allow: ["203.0.113.0/24"] };
  const allowed = await exchange(
    options,
    encoder.encode("PROXY TCP4 203.0.113.5 127.0.0.1 1 8080\r\nHai"),
  );
  assert.equal(allowed.reply, "Thanks for connecting");
  const refused = await exchange(
    options,
    encoder.encode("PROXY TCP4 198.51.100.1 127.0.0.1 1 8080\r\nHai"),
  );
  assert.equal(refused.reply, "");
  const event = await refused.recorder.waitFor("refused");
  assert.equal(event.peer, "198.51.100.1:1");
  assert.equal(event.rule, "not in --allow");
  assert.equal(refused.stats.refused, 1);
});
