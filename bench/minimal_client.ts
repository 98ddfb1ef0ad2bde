// The cold-start baseline: the lab's client with nothing around it.
// Usage: deno run --allow-net=127.0.0.1 bench/minimal_client.ts PORT
const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 8080) });
await conn.write(new TextEncoder().encode("Hai from client"));
const buffer = new Uint8Array(1024);
const count = await conn.read(buffer);
await Deno.stdout.write(buffer.subarray(0, count ?? 0));
conn.close();
