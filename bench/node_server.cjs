// The same exchange on Node.js `net`: one data event, reply, close.
// Usage: node bench/node_server.cjs
const net = require("node:net");
const reply = Buffer.from("Thanks for connecting");
const server = net.createServer((socket) => {
  socket.once("data", () => socket.end(reply));
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  console.log(`Listening on 127.0.0.1:${server.address().port}`);
});
