import assert from "node:assert/strict";
import { createAccessPolicy, serve } from "../lib/mod.ts";
import { EventRecorder } from "./_events.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

Deno.test("createAccessPolicy() lets everyone in without rules", () => {
  const policy = createAccessPolicy();
  assert.equal(policy.refusal("203.0.113.9"), undefined);
  assert.equal(policy.refusal("::1"), undefined);
});

Deno.test("createAccessPolicy() matches IPv4 addresses and CIDR ranges", () => {
  const policy = createAccessPolicy({ allow: ["10.0.0.0/8", "192.168.1.7"] });
  assert.equal(policy.refusal("10.255.0.1"), undefined);
  assert.equal(policy.refusal("192.168.1.7"), undefined);
  assert.equal(policy.refusal("192.168.1.8"), "not in --allow");
  assert.equal(policy.refusal("11.0.0.1"), "not in --allow");
  assert.equal(createAccessPolicy({ allow: ["0.0.0.0/0"] }).refusal("8.8.8.8"), undefined);
});

Deno.test("createAccessPolicy() matches IPv6, compressed or not, and unmaps IPv4", () => {
  const policy = createAccessPolicy({ allow: ["fd00::/8", "::1", "127.0.0.0/8"] });
  assert.equal(policy.refusal("fdab:1234::5"), undefined);
  assert.equal(policy.refusal("0:0:0:0:0:0:0:1"), undefined);
  assert.equal(policy.refusal("[::1]"), undefined);
  assert.equal(policy.refusal("::2"), "not in --allow");
  assert.equal(policy.refusal("::ffff:127.0.0.5"), undefined, "an IPv4 peer on an IPv6 socket");
  assert.equal(policy.refusal("2001:db8::1"), "not in --allow");
});

Deno.test("createAccessPolicy() lets deny win over allow", () => {
  const policy = createAccessPolicy({ allow: ["127.0.0.0/8"], deny: ["127.0.0.2, 127.0.0.3"] });
  assert.equal(policy.refusal("127.0.0.1"), undefined);
  assert.equal(policy.refusal("127.0.0.2"), "127.0.0.2");
  assert.equal(policy.refusal("127.0.0.3"), "127.0.0.3");
  assert.equal(createAccessPolicy({ deny: ["::/0"] }).refusal("::1"), "::/0");
  assert.equal(createAccessPolicy({ deny: ["::/0"] }).refusal("127.0.0.1"), undefined);
});

Deno.test("createAccessPolicy() rejects what is not an address or range", () => {
  for (
    const rule of ["nonsense", "1.2.3.4/33", "::1/129", "1.2.3", "256.0.0.1", "1::2::3", "1.2.3.4/"]
  ) {
    assert.throws(() => createAccessPolicy({ allow: [rule] }), TypeError, rule);
  }
});

Deno.test("serve() closes a refused client at once, unanswered, and logs it", async () => {
  const recorder = new EventRecorder();
  // All of 127.0.0.0/8 is this machine: allow only 127.0.0.2 and 127.0.0.1 is refused.
  await using server = serve({
    hostname: "0.0.0.0",
    port: 0,
    allow: ["127.0.0.2/32"],
    onEvent: recorder.record,
  });
  {
    await using refused = await connect(server.addr.port, "127.0.0.1");
    assert.equal((await readAll(refused)).length, 0);
    const event = await recorder.waitFor("refused");
    assert.equal(event.rule, "not in --allow");
    assert.match(event.peer, /^127\.0\.0\.1:\d+$/);
  }
  assert.equal(server.stats.refused, 1);
  assert.equal(server.stats.connections, 0);
});

Deno.test("serve() serves an allowed client that is not denied", async () => {
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    allow: ["127.0.0.0/8", "::1"],
    deny: ["127.0.0.2"],
  });
  await using conn = await connect(server.addr.port);
  await writeAll(conn, encoder.encode("let me in"));
  assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
  assert.equal(server.stats.refused, 0);
});
