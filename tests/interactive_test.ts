/**
 * `client.ts -i` typed into a real pseudo-terminal (util-linux `script`), as
 * a person would, against our line server, `ncat -l --chat` and `nc -l`; and
 * a piped stdin that stays open, streamed line by line.
 *
 * The terminal is the kernel's: Enter ends a line, Ctrl-D (at the start of a
 * line) is end of input, Ctrl-C sends SIGINT, and what is typed is echoed.
 * Every process has a time limit, so a session that never ends fails its
 * test instead of hanging the run.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  connect,
  decoder,
  encoder,
  hasProgram,
  LineReader,
  scriptCommand,
  startServer,
} from "./_helpers.ts";
import { runSession, toCrlf } from "../lib/client/session.ts";
import { serve } from "../lib/mod.ts";

const noScript = !(await hasProgram("script"));
const noNcat = noScript || !(await hasProgram("ncat"));
const noNc = noScript || !(await hasProgram("nc"));

/** Long enough for a cold `deno run`, short enough that a hang is noticed. */
const TIME_LIMIT_MS = 20_000;

const clientScript = new URL("../client.ts", import.meta.url).pathname;

/** Accumulates a stream's text and waits for patterns in it. */
class TextCollector {
  #reader: ReadableStreamDefaultReader<string>;
  #raw: boolean;
  /** Everything read so far; unless `raw`, with the terminal's `\r\n` as `\n`. */
  text = "";

  constructor(stream: ReadableStream<Uint8Array>, options: { raw?: boolean } = {}) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    this.#raw = options.raw ?? false;
  }

  #add(value: string): void {
    this.text += this.#raw ? value : value.replaceAll("\r\n", "\n");
  }

  /** Reads until the text so far matches; throws at EOF. */
  async until(pattern: RegExp): Promise<RegExpMatchArray> {
    while (true) {
      const match = this.text.match(pattern);
      if (match) return match;
      const { value, done } = await this.#reader.read();
      if (done) {
        throw new Error(`Output ended before ${pattern}; got: ${JSON.stringify(this.text)}`);
      }
      this.#add(value);
    }
  }

  /** Reads to EOF and returns all the text. */
  async rest(): Promise<string> {
    while (true) {
      const { value, done } = await this.#reader.read();
      if (done) return this.text;
      this.#add(value);
    }
  }
}

/** `client.ts` with its arguments, run on a pseudo-terminal of its own. */
function openTerminal(args: string[]) {
  const command = [Deno.execPath(), "run", "--no-prompt", "--allow-net=127.0.0.1", clientScript]
    .concat(args).map((word) => `'${word}'`).join(" ");
  // -e: script exits with the client's code. Its stdin is copied to the
  // terminal as keystrokes, so what the test writes is what a person types.
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(TIME_LIMIT_MS),
  }).spawn();
  const screen = new TextCollector(child.stdout);
  const keyboard = child.stdin.getWriter();
  return {
    screen,
    type: (keys: string) => keyboard.write(encoder.encode(keys)),
    /** Waits for the client to exit; resolves to its exit code. */
    async exit(): Promise<number> {
      const [{ code }] = await Promise.all([child.status, screen.rest()]);
      await keyboard.close().catch(() => {});
      return code;
    },
  };
}

/** A loopback port that was free a moment ago, for peers that cannot take port 0. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return (listener.addr as Deno.NetAddr).port;
  } finally {
    listener.close();
  }
}

/** Starts a peer program and waits for the line on stderr that says it listens. */
async function startListener(program: string, args: string[], listening: RegExp) {
  const child = new Deno.Command(program, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TIME_LIMIT_MS),
  }).spawn();
  // Byte for byte: nc prints exactly what it received, line ends included.
  const stdout = new TextCollector(child.stdout, { raw: true });
  const stderr = new TextCollector(child.stderr);
  const stdin = child.stdin.getWriter();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await stdin.close().catch(() => {});
    await Promise.all([stdout.rest(), stderr.rest(), child.status]);
  };
  try {
    await stderr.until(listening);
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, stdout, stderr, stdin, stop };
}

Deno.test({
  name: "client.ts -i sends each line at Enter to a keep-alive line server, and Ctrl-D ends it",
  ignore: noScript,
  async fn() {
    await using server = await startServer(["--framing", "line", "--keep-alive"]);
    const terminal = openTerminal(["-i", "--port", String(server.port)]);
    await terminal.screen.until(
      new RegExp(`Connected to 127\\.0\\.0\\.1:${server.port}; Ctrl-D ends your side`),
    );
    await terminal.type("first\n");
    // The server has the line while the session is open: sent at Enter.
    await server.stdout.until((line) => line === "first\\n");
    await terminal.screen.until(/first\nThanks for connecting\n/);
    await terminal.type("second\n");
    await server.stdout.until((line) => line === "second\\n");
    await terminal.screen.until(/second\nThanks for connecting\n/);
    await terminal.type("\x04"); // Ctrl-D: half-close; the server then closes
    assert.equal(await terminal.exit(), 0, terminal.screen.text);
    const { lines } = await server.stop();
    // Two messages on one connection, and not the lab's default message.
    assert.equal(lines.filter((line) => line.endsWith("\\n")).length, 2);
    assert.ok(!lines.some((line) => line.includes("Hai from client")), lines.join("\n"));
    assert.match(lines.at(-1)!, /\(2 messages\)/);
  },
});

Deno.test({
  name: "client.ts -i in ncat --chat: our lines reach another member, theirs arrive as we wait",
  ignore: noNcat,
  async fn() {
    const port = freePort();
    const ncat = await startListener(
      "ncat",
      ["-v", "-l", "127.0.0.1", String(port), "--chat"],
      /Listening on 127\.0\.0\.1:\d+/,
    );
    try {
      const terminal = openTerminal(["-i", "--port", String(port)]);
      await terminal.screen.until(/Connected to /);
      await using other = await connect(port);
      const otherSays = new TextCollector(other.readable);
      // Both ways at once: the other member's line arrives while nothing is typed.
      await terminal.screen.until(/<announce> 127\.0\.0\.1 is connected as <user\d+>\./);
      await otherSays.until(/already connected: 127\.0\.0\.1 as <user\d+>/);
      await other.write(encoder.encode("from the other side\n"));
      await terminal.screen.until(/<user\d+> from the other side\n/);
      await terminal.type("from the terminal\n");
      await otherSays.until(/<user\d+> from the terminal\n/);
      await terminal.type("\x04"); // ncat closes a member that half-closes
      assert.equal(await terminal.exit(), 0, terminal.screen.text);
    } finally {
      await ncat.stop();
    }
  },
});

Deno.test({
  name: "client.ts -i --crlf with nc -l: CRLF line ends out, typed replies in, Ctrl-D ends",
  ignore: noNc,
  async fn() {
    const port = freePort();
    const nc = await startListener(
      "nc",
      ["-v", "-n", "-l", "127.0.0.1", String(port)],
      /Listening on 127\.0\.0\.1 \d+/,
    );
    try {
      const terminal = openTerminal(["-i", "--crlf", "--port", String(port)]);
      await terminal.screen.until(/Connected to /);
      await terminal.type("EHLO lab\n");
      await nc.stdout.until(/EHLO lab\r\n/);
      await nc.stdin.write(encoder.encode("250 hello\n")); // the person at nc answers
      await terminal.screen.until(/250 hello\n/);
      await terminal.type("\x04"); // nc -l hangs up when its peer half-closes
      assert.equal(await terminal.exit(), 0, terminal.screen.text);
      assert.equal((await nc.child.status).code, 0);
    } finally {
      await nc.stop();
    }
  },
});

Deno.test({
  name: "client.ts -i: Ctrl-C closes the connection at once, exit code 130",
  ignore: noNc,
  async fn() {
    const port = freePort();
    const nc = await startListener(
      "nc",
      ["-v", "-n", "-l", "127.0.0.1", String(port)],
      /Listening on 127\.0\.0\.1 \d+/,
    );
    try {
      const terminal = openTerminal(["-i", "--port", String(port)]);
      await terminal.screen.until(/Connected to /);
      await terminal.type("half a line, then");
      await terminal.type("\x03"); // Ctrl-C
      assert.equal(await terminal.exit(), 130, terminal.screen.text);
      // nc sees the connection end: it exits, having printed nothing.
      assert.equal((await nc.child.status).code, 0);
      assert.equal(await nc.stdout.rest(), "");
    } finally {
      await nc.stop();
    }
  },
});

Deno.test({
  name: "client.ts streams a piped stdin that stays open, replies printing as they arrive",
  ignore: noScript,
  async fn() {
    await using server = await startServer(["--framing", "line", "--keep-alive"]);
    for (const mode of [[], ["-i"]]) {
      const child = scriptCommand("client.ts", [...mode, "--port", String(server.port)], {
        stdin: "piped",
        signal: AbortSignal.timeout(TIME_LIMIT_MS),
      }).spawn();
      const stdin = child.stdin.getWriter();
      const stdout = new LineReader(child.stdout);
      const stderr = new Response(child.stderr).text();
      // Each reply arrives while the pipe is still open, as with tail -f.
      for (const line of ["one\n", "two\n"]) {
        await stdin.write(encoder.encode(line));
        assert.equal(await stdout.next(), "Thanks for connecting", `${mode.join(" ")}`);
      }
      await stdin.close();
      const { code } = await child.status;
      assert.equal(code, 0, await stderr);
      assert.deepEqual(await stdout.rest(), ["Thanks for connecting", "Thanks for connecting"]);
    }
  },
});

Deno.test({
  name: "client.ts -i with --timeout gives up on a session where nothing moves",
  ignore: noScript,
  async fn() {
    // A peer that accepts and says nothing; the pipe stays open and silent.
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const child = scriptCommand("client.ts", [
      "-i",
      "--timeout",
      "300ms",
      "--port",
      String((listener.addr as Deno.NetAddr).port),
    ], { stdin: "piped", signal: AbortSignal.timeout(TIME_LIMIT_MS) }).spawn();
    const { code, stderr } = await child.output();
    await child.stdin.close();
    (await accepted).close();
    assert.equal(code, 1);
    assert.match(
      decoder.decode(stderr),
      /^error: Gave up on "127\.0\.0\.1:\d+": nothing moved for 300 ms\n$/,
    );
  },
});

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
