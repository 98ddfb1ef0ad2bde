// The echo baseline: a read/write loop through one reused buffer per
// connection, until the client half-closes.
// Usage: deno run --allow-net=127.0.0.1 bench/plain_echo.ts
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`Listening on 127.0.0.1:${listener.addr.port}`);
async function echo(conn: Deno.Conn) {
  const buffer = new Uint8Array(64 * 1024);
  try {
    let count;
    while ((count = await conn.read(buffer)) !== null) {
      let offset = 0;
      while (offset < count) offset += await conn.write(buffer.subarray(offset, count));
    }
    await conn.closeWrite();
  } catch {
    // the client went away
  } finally {
    conn.close();
  }
}
for await (const conn of listener) echo(conn);
