/**
 * Echo throughput of one large stream: ours with `--framing eof --echo`
 * against a plain read/write loop.
 *
 * @module
 */

import type { Row } from "../_report.ts";
import { type Context, deno, here, log, median, net } from "../_context.ts";
import { ours, startBenchServer } from "../_servers.ts";

/** Sends `bytes` while reading the echo back; MiB per second. */
async function echoThroughput(port: number, bytes: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const block = new Uint8Array(64 * 1024).fill(0x61);
  const startedAt = performance.now();
  const sending = (async () => {
    for (let sent = 0; sent < bytes; sent += block.length) {
      let offset = 0;
      while (offset < block.length) offset += await conn.write(block.subarray(offset));
    }
    await conn.closeWrite();
  })();
  const buffer = new Uint8Array(256 * 1024);
  let received = 0;
  let count;
  while ((count = await conn.read(buffer)) !== null) received += count;
  await sending;
  conn.close();
  if (received !== bytes) throw new Error(`Echo returned ${received} bytes`);
  return received / 2 ** 20 / ((performance.now() - startedAt) / 1000);
}

/** The echo figures and their row. */
export async function measureEcho(
  ctx: Context,
): Promise<{ results: Record<string, unknown>; row: Row }> {
  log("echo throughput");
  const { echoBytes, echoRounds } = ctx.settings;
  // One stream is one sample: both servers run side by side and take turns,
  // and each keeps its median stream.
  await using oursServer = await ours("ours, echo", [
    "--quiet",
    "--framing",
    "eof",
    "--echo",
    "--max-message",
    "4GiB",
  ]);
  await using plainServer = await startBenchServer("plain echo", deno, [
    "run",
    net,
    `${here}plain_echo.ts`,
  ]);
  const oursRates: number[] = [];
  const plainRates: number[] = [];
  for (let round = 0; round < echoRounds; round++) {
    oursRates.push(await echoThroughput(oursServer.port, echoBytes));
    plainRates.push(await echoThroughput(plainServer.port, echoBytes));
  }
  const oursEcho = median(oursRates);
  const plainEcho = median(plainRates);
  return {
    results: { echoMiBPerSecond: { ours: oursEcho, plain: plainEcho } },
    row: {
      metric: `echo of ${echoBytes / 2 ** 20} MiB`,
      ours: oursEcho,
      baseline: plainEcho,
      baselineName: "plain read/write loop",
      unit: "MiB/s",
      target: { atLeast: 0.9 },
    },
  };
}
