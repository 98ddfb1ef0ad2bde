// The baseline: a TCP server of the shape the Deno docs show. Accept, one
// read, one write, close; each connection handled without awaiting the last.
// Usage: deno run --allow-net=127.0.0.1 bench/minimal_server.ts [PORT] [BACKLOG]
// (Deno's default backlog is 511; the burst test also runs it with ours.)
const [port = "0", backlog] = Deno.args;
const listener = Deno.listen({
  hostname: "127.0.0.1",
  port: Number(port),
  ...(backlog ? { tcpBacklog: Number(backlog) } : {}),
});
console.log(`Listening on 127.0.0.1:${listener.addr.port}`);
const reply = new TextEncoder().encode("Thanks for connecting");
async function handle(conn: Deno.Conn) {
  try {
    const buffer = new Uint8Array(1024);
    await conn.read(buffer);
    await conn.write(reply);
  } catch {
    // a failed exchange only ends that connection
  } finally {
    conn.close();
  }
}
for await (const conn of listener) handle(conn);
