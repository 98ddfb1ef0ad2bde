/**
 * TLS connections close at their deadlines, handshake or not, and a PROXY
 * header may come before the handshake, as HAProxy sends it with `ssl`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect, decoder, hasProgram, LineReader, readAll, writeAll } from "./_helpers.ts";

const ignore = !(await hasProgram("openssl")) || !(await hasProgram("python3"));

/** A self-signed certificate for 127.0.0.1 in a fresh folder, removed on dispose. */
async function makeCertificate() {
  const script = `
set -e
dir=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \\
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
echo "$dir"
`;
  const { success, stdout, stderr } = await new Deno.Command("sh", { args: ["-c", script] })
    .output();
  assert.ok(success, decoder.decode(stderr));
  const dir = decoder.decode(stdout).trim();
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    },
  };
}

/** `server.ts` over TLS as its own process, under a shell prefix such as `ulimit -n 256;`. */
async function startTlsServer(dir: string, args: string[], shell = "") {
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `${shell} exec "$0" "$@"`,
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}`,
      new URL("../server.ts", import.meta.url).pathname,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--cert",
      `${dir}/cert.pem`,
      "--key",
      `${dir}/key.pem`,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new Response(child.stderr).text();
  const listening = await stdout.until((line) => line.includes("Listening on"), 10_000)
    .catch(async (error) => {
      throw new Error(`${error.message}\nstderr: ${await stderr}`);
    });
  return {
    port: Number(listening.split(":").pop()),
    pid: child.pid,
    stdout,
    /** The server's open file descriptors, from /proc. */
    async descriptors(): Promise<number> {
      const { stdout } = await new Deno.Command("sh", {
        args: ["-c", `ls /proc/${child.pid}/fd | wc -l`],
      }).output();
      return Number(decoder.decode(stdout).trim());
    },
    /** SIGTERM, then the whole log once the server has exited. */
    async stop(): Promise<{ code: number; lines: string[] }> {
      child.kill("SIGTERM");
      const [lines, { code }] = await Promise.all([stdout.rest(), child.status]);
      return { code, lines };
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await Promise.all([child.status, stdout.rest(), stderr]);
    },
  };
}

/**
 * A TLS client in Python (Deno's own cannot skip verifying a self-signed
 * certificate): optionally a PROXY header first, then the handshake, the
 * lab's message, and the reply on stdout.
 */
async function pythonTlsClient(port: number, proxyHeader = ""): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("python3", {
    args: [
      "-c",
      `
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(sys.argv[2].encode())
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
t = context.wrap_socket(s)
t.sendall(b"Hai from client")
print(t.recv(1024).decode(), end="")
`,
      String(port),
      proxyHeader,
    ],
  }).output();
  assert.ok(success, decoder.decode(stderr));
  return decoder.decode(stdout);
}

Deno.test({
  name: "server.ts --cert closes a client that never starts its handshake at the idle timeout",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    await using server = await startTlsServer(certificate.dir, ["--idle-timeout", "1s"]);
    assert.equal(await pythonTlsClient(server.port), "Thanks for connecting");
    const before = await server.descriptors();
    const silent = await Promise.all(Array.from({ length: 50 }, () => connect(server.port)));
    try {
      // Every one of them sees the server close: EOF, with no byte; and
      // soon, or the test fails instead of waiting for ever.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("No EOF within 10 s")), 10_000);
      });
      try {
        const seen = await Promise.race([
          Promise.all(silent.map((conn) => readAll(conn).catch(() => null))),
          deadline,
        ]);
        assert.ok(seen.every((bytes) => bytes !== null && bytes.length === 0));
      } finally {
        clearTimeout(timer);
      }
    } finally {
      for (const conn of silent) conn.close();
    }
    // And the server really let go of their descriptors.
    const after = await server.descriptors();
    assert.ok(after <= before + 2, `${before} descriptors before, ${after} after`);
  },
});

Deno.test({
  name: "server.ts --cert closes a handshake trickled slower than the idle timeout",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    await using server = await startTlsServer(certificate.dir, ["--idle-timeout", "1s"]);
    // A real ClientHello, one byte every 200 ms: each byte would have
    // renewed an idle timeout that counted handshake bytes.
    const { stdout } = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, ssl, sys, time
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = context.wrap_bio(incoming, outgoing)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = outgoing.read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
sent = 0
try:
    for byte in hello:
        s.sendall(bytes([byte]))
        sent += 1
        time.sleep(0.2)
        if sent >= 60:
            break
except OSError:
    pass
print(sent)
`,
        String(server.port),
      ],
    }).output();
    assert.ok(Number(decoder.decode(stdout)) < 60, "the server took 12 s of trickle");
    assert.match(
      await server.stdout.until((line) => line.includes("closed")),
      /^127\.0\.0\.1:\d+: no TLS handshake within the idle timeout, closed$/,
    );
  },
});

Deno.test({
  name: "server.ts --cert closes a health check that connects and leaves quietly, at once",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    await using server = await startTlsServer(certificate.dir, []);
    for (let i = 0; i < 3; i++) (await connect(server.port)).close();
    assert.equal(await pythonTlsClient(server.port), "Thanks for connecting");
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    // None was left waiting to be answered over a handshake that never came.
    assert.ok(lines.includes("Shutting down"), lines.join("\n"));
    assert.match(lines.at(-1)!, /^Served 4 connections \(1 message\), .* 0 errors,/);
  },
});

Deno.test({
  name: "server.ts --cert --allow closes a refused client at once, before any handshake",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    // No idle timeout: only the refusal itself can close these.
    await using server = await startTlsServer(certificate.dir, [
      "--allow",
      "10.0.0.0/8",
      "--idle-timeout",
      "0",
    ]);
    const before = await server.descriptors();
    const refused = await Promise.all(Array.from({ length: 20 }, () => connect(server.port)));
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("No EOF within 10 s")), 10_000);
      });
      try {
        const seen = await Promise.race([
          Promise.all(refused.map((conn) => readAll(conn).catch(() => new Uint8Array()))),
          deadline,
        ]);
        assert.ok(seen.every((bytes) => bytes.length === 0));
      } finally {
        clearTimeout(timer);
      }
    } finally {
      for (const conn of refused) conn.close();
    }
    const after = await server.descriptors();
    assert.ok(after <= before + 2, `${before} descriptors before, ${after} after`);
    const { lines } = await server.stop();
    assert.match(lines.at(-1)!, /20 refused/);
  },
});

Deno.test({
  name: "server.ts --cert closes a client that stops reading its echo at the idle timeout",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    await using server = await startTlsServer(certificate.dir, [
      "--framing",
      "eof",
      "--echo",
      "--max-message",
      "1GiB",
      "--idle-timeout",
      "1s",
    ]);
    // Sends 64 MiB and never reads the echo: the server's write stalls.
    const client = new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
t = context.wrap_socket(s)
sent = 0
try:
    for _ in range(1024):
        t.sendall(b"x" * 65536)
        sent += 1
except OSError:
    pass
print(sent)
`,
        String(server.port),
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const sent = new Response(client.stdout).text();
    try {
      const line = await server.stdout.until((line) => line.includes("idle for"), 15_000);
      assert.match(line, /^127\.0\.0\.1:\d+: idle for/);
    } finally {
      await client.status;
    }
    // The server stopped reading while it could not write: no unbounded queue.
    assert.ok(Number(await sent) < 1024, `the server took all ${await sent} blocks`);
    const { lines } = await server.stop();
    assert.match(lines.at(-1)!, /1 idle timeout/);
  },
});

Deno.test({
  name: "300 silent TLS clients under ulimit -n 256 lock nobody out for long",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    await using server = await startTlsServer(
      certificate.dir,
      ["--idle-timeout", "1s"],
      "ulimit -n 256;",
    );
    const silent: Deno.Conn[] = [];
    try {
      // Connects succeed past the server's limit: the kernel queues them.
      for (let i = 0; i < 300; i++) silent.push(await connect(server.port));
      // A real client, while they hold every descriptor: served once the
      // idle timeout has closed enough of them.
      assert.equal(await pythonTlsClient(server.port), "Thanks for connecting");
    } finally {
      for (const conn of silent) conn.close();
    }
  },
});

Deno.test({
  name: "server.ts --proxy-protocol --cert reads the clear-text header before the handshake",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    await using server = await startTlsServer(certificate.dir, ["--proxy-protocol"]);
    const reply = await pythonTlsClient(
      server.port,
      "PROXY TCP4 203.0.113.7 127.0.0.1 51000 8443\r\n",
    );
    assert.equal(reply, "Thanks for connecting");
    assert.equal(
      await server.stdout.until((line) => line.startsWith("Got connection")),
      "Got connection from 203.0.113.7:51000",
    );
    assert.equal(await server.stdout.next(), "Hai from client");
    // Without a header, the handshake's bytes are not taken for one.
    await using conn = await connect(server.port);
    await writeAll(conn, new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05]));
    assert.equal((await readAll(conn).catch(() => new Uint8Array())).length, 0);
    assert.match(
      await server.stdout.until((line) => line.includes("PROXY")),
      /Missing PROXY protocol header/,
    );
  },
});

for (const sendProxy of ["send-proxy", "send-proxy-v2"]) {
  Deno.test({
    name:
      `server.ts --proxy-protocol --cert behind HAProxy (${sendProxy} ssl) logs the real client`,
    ignore: ignore || !(await hasProgram("haproxy")),
    async fn() {
      await using certificate = await makeCertificate();
      await using server = await startTlsServer(certificate.dir, ["--proxy-protocol"]);
      const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const front = probe.addr.port;
      probe.close();
      const config = [
        "global",
        "  maxconn 100",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 10s",
        "  timeout server 10s",
        "frontend lab",
        `  bind 127.0.0.1:${front}`,
        "  default_backend ours",
        "backend ours",
        `  server ours 127.0.0.1:${server.port} ${sendProxy} ssl verify none`,
      ].join("\n");
      const haproxy = new Deno.Command("sh", {
        args: ["-c", "exec haproxy -f /dev/stdin -db -V"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = haproxy.stdin.getWriter();
      await writer.write(new TextEncoder().encode(config + "\n"));
      await writer.close();
      const output = new LineReader(haproxy.stdout);
      const errors = new Response(haproxy.stderr).text();
      try {
        await output.until((line) => line.startsWith("Using epoll()"), 10_000);
        // HAProxy says it polls a moment before its listener is bound: retry
        // a refused connect, for 5 s at most.
        let conn: Deno.TcpConn | undefined;
        for (const started = performance.now(); conn === undefined;) {
          conn = await connect(front).catch((error) => {
            if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
            if (performance.now() - started > 5000) throw error;
            return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20));
          });
        }
        await using _conn = conn;
        await writeAll(conn, new TextEncoder().encode("Hai from client"));
        await conn.closeWrite();
        assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
        const local = conn.localAddr as Deno.NetAddr;
        assert.equal(
          await server.stdout.until((line) => line.startsWith("Got connection")),
          `Got connection from 127.0.0.1:${local.port}`,
        );
        assert.equal(await server.stdout.next(), "Hai from client");
      } finally {
        haproxy.kill("SIGTERM");
        await Promise.all([haproxy.status, output.rest(), errors]);
      }
    },
  });
}

Deno.test({
  name: "server.ts --cert still checks the certificate and key before it listens",
  ignore,
  async fn() {
    await using certificate = await makeCertificate();
    const { dir } = certificate;
    // The key given as the certificate, and the certificate as the key.
    for (
      const [cert, key, pattern] of [
        [`${dir}/key.pem`, `${dir}/key.pem`, /no certificates found/],
        [`${dir}/cert.pem`, `${dir}/cert.pem`, /no keys found/],
      ]
    ) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--allow-net=127.0.0.1",
          `--allow-read=${dir}`,
          new URL("../server.ts", import.meta.url).pathname,
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--cert",
          cert as string,
          "--key",
          key as string,
        ],
        signal: AbortSignal.timeout(10_000),
      }).output();
      const stderr = decoder.decode(output.stderr);
      assert.equal(output.code, 1, stderr);
      // How the line begins is server.ts's to word; what it names is Deno's check.
      assert.match(stderr, /^error: /);
      assert.match(stderr, pattern as RegExp);
      assert.equal(stderr.trim().split("\n").length, 1, stderr);
    }
  },
});
