/**
 * The client's interactive session as a library: `runSession()` with input
 * and output as streams, no terminal, and `toCrlf()`. The session typed
 * into a real terminal is in interactive_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runSession, toCrlf } from "../lib/client/session.ts";
import { serve } from "../lib/mod.ts";
import { decoder, encoder } from "./_sockets.ts";

Deno.test("toCrlf() turns bare line feeds into CRLF, across chunks, and leaves CRLF alone", async () => {
  async function* chunks() {
    for (const text of ["a\nb\r", "\nc\n", "\n", "\r\nd"]) yield encoder.encode(text);
  }
  let out = "";
  for await (const chunk of toCrlf(chunks())) out += decoder.decode(chunk);
  assert.equal(out, "a\r\nb\r\nc\r\n\r\n\r\nd");
});

Deno.test("runSession() ends when the server closes, though the input is still open", async () => {
  // A server that answers the first line and closes: the input never ends.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(1024));
    await conn.write(encoder.encode("bye\n"));
    conn.close();
  })();
  let release!: () => void;
  const never = new Promise<void>((resolve) => release = resolve);
  async function* typing() {
    yield encoder.encode("hello\n");
    await never; // a person who has stopped typing
  }
  let received = "";
  const result = await runSession(
    typing(),
    { write: (chunk) => Promise.resolve(received += decoder.decode(chunk)) },
    { port: (listener.addr as Deno.NetAddr).port },
  );
  release();
  await server;
  assert.equal(received, "bye\n");
  assert.equal(result.inputEnded, false);
  assert.equal(result.bytesSent, 6);
});

Deno.test("runSession() half-closes when the input ends and waits for the server", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof", echo: true });
  async function* typed() {
    yield encoder.encode("one\n");
    yield encoder.encode("two\n");
  }
  let received = "";
  const result = await runSession(
    typed(),
    { write: (chunk) => Promise.resolve(received += decoder.decode(chunk)) },
    { port: server.addr.port, crlf: true },
  );
  // The eof-framed server answers only after the half-close, and then closes.
  assert.equal(received, "one\r\ntwo\r\n");
  assert.equal(result.inputEnded, true);
});

Deno.test("runSession() checks its input and options before connecting", async () => {
  const sink = { write: () => Promise.resolve() };
  async function* nothing() {}
  const bad: [() => Promise<unknown>, ErrorConstructor, RegExp][] = [
    [() => runSession(42 as never, sink), TypeError, /Invalid input/],
    [() => runSession(nothing(), {} as never), TypeError, /Invalid output/],
    [() => runSession(nothing(), sink, { crlf: "yes" as never }), TypeError, /Invalid crlf/],
    [
      () => runSession(nothing(), sink, { idleTimeout: -1 }),
      RangeError,
      /Invalid idleTimeout "-1"/,
    ],
    [
      () => runSession(nothing(), sink, { maxReceivedBytes: 0 }),
      RangeError,
      /Invalid maxReceivedBytes "0"/,
    ],
    [() => runSession(nothing(), sink, { port: 70000 }), RangeError, /Invalid port "70000"/],
  ];
  for (const [run, ErrorClass, pattern] of bad) {
    await assert.rejects(run, (error: Error) => {
      assert.ok(error instanceof ErrorClass, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  }
});
