/**
 * Serves the repository over HTTP on loopback, every file as `text/plain`,
 * the way raw.githubusercontent.com does, so tests can run the scripts from
 * a URL. Prints `Listening on 127.0.0.1:PORT`.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-read=ROOT tests/_file_server.ts ROOT
 *
 * @module
 */

const root = Deno.args[0];
Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`Listening on 127.0.0.1:${port}`),
}, async (request) => {
  const path = decodeURIComponent(new URL(request.url).pathname);
  if (path.includes("..")) return new Response("Not found", { status: 404 });
  try {
    return new Response(await Deno.readFile(root + path), {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  } catch {
    return new Response("Not found", { status: 404 });
  }
});
