import assert from "node:assert/strict";
import { sendMessage, type SendMessageOptions, serve } from "../lib/mod.ts";
import { EventRecorder } from "./_events.ts";
import { canSpawn } from "./_process.ts";
import { decoder, encoder } from "./_sockets.ts";

Deno.test("sendMessage() with default options sends the lab's message and returns the reply", async () => {
  const recorder = new EventRecorder();
  await using server = serve({ hostname: "127.0.0.1", port: 0, onEvent: recorder.record });
  const result = await sendMessage({ port: server.addr.port });
  assert.equal(decoder.decode(result.reply), "Thanks for connecting");
  assert.equal(result.bytesSent, 15);
  assert.equal(result.bytesReceived, 21);
  assert.equal(result.remoteAddress, `127.0.0.1:${server.addr.port}`);
  assert.ok(result.connectMs <= result.firstByteMs! && result.firstByteMs! <= result.totalMs);
  assert.equal(decoder.decode((await recorder.waitFor("message")).data), "Hai from client");
});

Deno.test("sendMessage() half-closes, so an eof-framed server answers", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof", echo: true });
  const message = "line one\nline two\n".repeat(1000);
  const result = await sendMessage({ port: server.addr.port, message });
  assert.equal(decoder.decode(result.reply), message);
});

Deno.test("sendMessage() sends a stream and writes the reply to an output stream", async () => {
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "eof",
    echo: true,
    maxMessageBytes: 8 * 1024 * 1024,
  });
  const chunk = encoder.encode("0123456789abcdef".repeat(4096)); // 64 KiB
  let sent = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 64) return controller.close();
      sent++;
      controller.enqueue(chunk);
    },
  });
  let received = 0;
  let intact = true;
  const output = new WritableStream<Uint8Array>({
    write(part) {
      for (let i = 0; i < part.length; i++) {
        if (part[i] !== chunk[(received + i) % chunk.length]) intact = false;
      }
      received += part.length;
    },
  });
  const result = await sendMessage({ port: server.addr.port, message: input, output });
  assert.equal(received, 64 * chunk.length);
  assert.ok(intact);
  assert.equal(result.reply.length, 0, "nothing held when streaming to output");
  assert.equal(result.bytesReceived, received);
});

Deno.test("sendMessage() rejects a refused connection with a one-line reason", async () => {
  // A port that was just free: bind, note it, release it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    () => sendMessage({ port }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.ConnectionRefused);
      assert.equal(error.message, `Cannot connect to "127.0.0.1:${port}": connection refused`);
      return true;
    },
  );
});

Deno.test("sendMessage() gives up connecting after the connect timeout", async () => {
  // A listener that never accepts, with its one-slot backlog filled: the
  // kernel drops further SYNs, so the next connect hangs.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  try {
    while (true) {
      try {
        held.push(
          await Deno.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.timeout(200) }),
        );
      } catch {
        break;
      }
      assert.ok(held.length < 100, "the backlog never filled");
    }
    await assert.rejects(
      () => sendMessage({ port, connectTimeout: 100 }),
      (error: Error) => {
        assert.ok(error instanceof Deno.errors.TimedOut);
        assert.match(
          error.message,
          /^Cannot connect to "127\.0\.0\.1:\d+": no answer within 100 ms$/,
        );
        return true;
      },
    );
  } finally {
    for (const conn of held) conn.close();
  }
});

Deno.test("sendMessage() gives up when the server goes silent", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  await assert.rejects(
    () => sendMessage({ port: (listener.addr as Deno.NetAddr).port, replyTimeout: 50 }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.TimedOut);
      assert.match(error.message, /nothing moved for 50 ms/);
      return true;
    },
  );
  (await accepted).close();
});

Deno.test("sendMessage() stops at the reply limit", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, reply: "x".repeat(1000) });
  await assert.rejects(
    () => sendMessage({ port: server.addr.port, maxReplyBytes: 100 }),
    /over the limit of 100 bytes/,
  );
});

Deno.test("sendMessage() with halfClose off leaves the sending side open", async () => {
  const recorder = new EventRecorder();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framing: "eof",
    idleTimeout: 100,
    onEvent: recorder.record,
  });
  // An eof-framed server never sees the end of this message: it closes at
  // its idle timeout, without a reply.
  const result = await sendMessage({ port: server.addr.port, halfClose: false });
  assert.equal(result.bytesReceived, 0);
  assert.equal((await recorder.waitFor("close")).reason, "idle");
});

Deno.test("sendMessage() checks every option before connecting", async () => {
  // A closed port: an option that slipped through would fail as refused instead.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const bad: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ replyTimeout: -1 }, RangeError, /Invalid replyTimeout "-1"/],
    [{ replyTimeout: NaN }, RangeError, /Invalid replyTimeout "NaN"/],
    [{ connectTimeout: -5 }, RangeError, /Invalid connectTimeout "-5"/],
    [{ connectTimeout: 2 ** 31 }, RangeError, /Invalid connectTimeout/],
    [{ maxReplyBytes: -1 }, RangeError, /Invalid maxReplyBytes "-1"/],
    [{ maxReplyBytes: 1.5 }, RangeError, /Invalid maxReplyBytes "1\.5"/],
    [{ port: 0 }, RangeError, /Invalid port "0"/],
    [{ hostname: "" }, TypeError, /Invalid hostname ""/],
    [{ path: "" }, TypeError, /Invalid path ""/],
    [{ path: "/tmp/x.sock", tls: true }, TypeError, /path and tls cannot be used together/],
    [{ tls: "yes" }, TypeError, /Invalid tls/],
    [{ tls: { caCerts: "PEM" } }, TypeError, /Invalid tls/],
    [{ message: 42 }, TypeError, /Invalid message/],
    [{ halfClose: "no" }, TypeError, /Invalid halfClose "no"/],
    [{ timeoutIncludesInput: 1 }, TypeError, /Invalid timeoutIncludesInput "1"/],
    [{ output: {} }, TypeError, /Invalid output/],
    [{ signal: "stop" }, TypeError, /Invalid signal/],
  ];
  for (const [options, ErrorClass, pattern] of bad) {
    await assert.rejects(
      () => sendMessage({ port, ...options } as SendMessageOptions),
      (error: Error) => {
        assert.ok(error instanceof ErrorClass, `${JSON.stringify(options)}: ${error}`);
        assert.match(error.message, pattern);
        return true;
      },
    );
  }
});

Deno.test("sendMessage() stops a TLS connect when the signal aborts, handshake or not", async () => {
  // A TCP listener that never answers the TLS handshake, and no connect timeout:
  // only the signal can end the wait.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const reason = new Error("stopped by the caller");
  const controller = new AbortController();
  const result = sendMessage({
    port: (listener.addr as Deno.NetAddr).port,
    tls: true,
    connectTimeout: 0,
    signal: controller.signal,
  });
  const conn = await accepted; // the TCP connection is open: the handshake is pending
  controller.abort(reason);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("still connecting 5 s after the abort")), 5_000);
  });
  try {
    await assert.rejects(() => Promise.race([result, stuck]), (error) => error === reason);
  } finally {
    clearTimeout(timer);
    conn.close();
  }
});

Deno.test("sendMessage() gives up on a TLS handshake that never comes at the connect timeout", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  await assert.rejects(
    () =>
      sendMessage({ port: (listener.addr as Deno.NetAddr).port, tls: true, connectTimeout: 100 }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.TimedOut);
      assert.match(
        error.message,
        /^Cannot connect to "127\.0\.0\.1:\d+": no answer within 100 ms$/,
      );
      return true;
    },
  );
  (await accepted).close();
});

Deno.test({
  name: "sendMessage() honours a signal that aborts while a Unix socket connects",
  ignore: !canSpawn,
  async fn() {
    // Unix sockets need file permissions for the path, so this runs in a
    // process of its own that has them, as the user's would.
    const path = `/tmp/tcp-lab-test-${crypto.randomUUID()}.sock`;
    const client = new URL("../lib/client.ts", import.meta.url).href;
    const code = `
      import { sendMessage } from "${client}";
      using listener = Deno.listen({ transport: "unix", path: "${path}" });
      const controller = new AbortController();
      const result = sendMessage({ path: "${path}", signal: controller.signal, replyTimeout: 3000 });
      controller.abort(new Error("stopped by the caller"));
      console.log(await result.then(() => "resolved", (error) => error.message));
    `;
    try {
      const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `--allow-read=${path}`,
          `--allow-write=${path}`,
          `--allow-net=unix:${path}`,
          code,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(decoder.decode(stdout).trim(), "stopped by the caller", decoder.decode(stderr));
    } finally {
      await Deno.remove(path).catch(() => {});
    }
  },
});

/**
 * A peer that reads `readFirst` bytes, replies, half-closes, then discards
 * `discard` more bytes and closes with the rest of the message unread, as
 * server.ts's lingering close does: the client sees the reply and EOF first,
 * and its later writes fail.
 */
async function closeEarly(listener: Deno.Listener, discard: number): Promise<number> {
  const conn = await listener.accept();
  const buffer = new Uint8Array(64 * 1024);
  let read = (await conn.read(buffer)) ?? 0;
  await conn.write(encoder.encode("partial reply"));
  await conn.closeWrite();
  while (read < discard) {
    const count = await conn.read(buffer);
    if (count === null) break;
    read += count;
  }
  conn.close();
  return read;
}

Deno.test("sendMessage() fails when the server closes before the whole message was sent", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = closeEarly(listener, 256 * 1024);
  const message = new Uint8Array(64 * 1024 * 1024); // more than any loopback buffering
  await assert.rejects(
    () => sendMessage({ port: (listener.addr as Deno.NetAddr).port, message }),
    (error: Error) => {
      assert.ok(
        error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset,
        String(error),
      );
      assert.match(
        error.message,
        /^"127\.0\.0\.1:\d+" closed the connection before the whole message was sent \(\d+ of 67108864 bytes sent\): /,
      );
      return true;
    },
  );
  assert.ok((await server) < message.length);
});

/** A message stream that pauses `pauseMs` between its two chunks. */
async function* pausing(pauseMs: number): AsyncGenerator<Uint8Array> {
  yield encoder.encode("first ");
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  yield encoder.encode("second");
}

Deno.test("sendMessage() leaves a pausing message out of the timeout when asked", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof", echo: true });
  const port = server.addr.port;
  // A pause longer than the timeout: the server waits on us, not we on it.
  const result = await sendMessage({
    port,
    message: pausing(400),
    replyTimeout: 150,
    timeoutIncludesInput: false,
  });
  assert.equal(decoder.decode(result.reply), "first second");
  await assert.rejects(
    () => sendMessage({ port, message: pausing(400), replyTimeout: 150 }),
    /nothing moved for 150 ms/,
  );
});

Deno.test("sendMessage() fails at once when its message stream fails", async () => {
  // An eof-framed server waits for the rest of the message: without the
  // check, the exchange would wait on it until the timeout.
  await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "eof", echo: true });
  async function* failing() {
    yield encoder.encode("a start, then ");
    throw new Error("Input/output error");
  }
  await assert.rejects(
    () => sendMessage({ port: server.addr.port, message: failing(), replyTimeout: 5_000 }),
    (error: Error) => {
      assert.equal(error.message, "Cannot read the message: input/output error");
      return true;
    },
  );
});

Deno.test("sendMessage() names a failing output as such, not as the connection", async () => {
  await using server = serve({ hostname: "127.0.0.1", port: 0 });
  const output = { write: () => Promise.reject(new Deno.errors.BrokenPipe("Broken pipe")) };
  await assert.rejects(
    () => sendMessage({ port: server.addr.port, output }),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.BrokenPipe);
      assert.equal(error.message, "Cannot write the reply: broken pipe");
      return true;
    },
  );
});
