/**
 * A burst: many clients connect at once, and the figure is the time until
 * every one is answered. Our load generator opens them all at once, one
 * cycle each; its epoll engine is cheap enough that the server, not the
 * client, sets the time.
 *
 * @module
 */

import { run } from "../../tests/_process.ts";
import type { Row } from "../_report.ts";
import { type Context, deno, here, log, median, net } from "../_context.ts";
import { load } from "../_load.ts";
import { type BenchServer, minimal, ours, startBenchServer } from "../_servers.ts";

/** Milliseconds until all of one burst is answered. */
async function burstMs(port: number, burst: number): Promise<number> {
  const report = await load(port, burst, { limit: ["--count", String(burst)] });
  const failed = Object.values(report.errors).reduce((sum, count) => sum + count, 0);
  if (failed > 0) log(`burst: ${failed} of ${burst} failed`);
  return report.elapsedMs;
}

/** The burst figures and their rows. */
export async function measureBurst(
  ctx: Context,
): Promise<{ results: Record<string, unknown>; rows: Row[] }> {
  log("burst");
  const { burst, burstRounds } = ctx.settings;
  // Each burst in a fresh process, the servers taking turns; the median of
  // a few bursts, since one burst is one sample.
  const epollBinary = `${ctx.workDir}/epoll_server`;
  if (ctx.hasCc) await run("cc", ["-O2", "-o", epollBinary, `${here}epoll_server.c`]);
  const bursters: [string, () => Promise<BenchServer>][] = [
    ["ours", () => ours("ours, quiet", ["--quiet"])],
    ["minimal", minimal],
    // The same minimal server with our backlog: what a burst costs Deno itself.
    ["minimal4096", () =>
      startBenchServer("minimal Deno, backlog 4096", deno, [
        "run",
        net,
        `${here}minimal_server.ts`,
        "0",
        "4096",
      ])],
    ...(ctx.hasCc
      ? [["epoll", () => startBenchServer("C epoll server", epollBinary, [])] as [
        string,
        () => Promise<BenchServer>,
      ]]
      : []),
  ];
  const burstTimes: Record<string, number[]> = {};
  for (let round = 0; round < burstRounds; round++) {
    for (const [name, start] of bursters) {
      await using server = await start();
      (burstTimes[name] ??= []).push(await burstMs(server.port, burst));
    }
  }
  const medianBurst = (name: string) => median(burstTimes[name] ?? []);
  const oursMs = medianBurst("ours");
  const minimalMs = medianBurst("minimal");
  const epollMs = medianBurst("epoll");
  const minimal4096Ms = medianBurst("minimal4096");
  const row = (baseline: number, baselineName: string, target: Row["target"]): Row => ({
    metric: `burst of ${burst} connects, all answered`,
    ours: oursMs,
    baseline,
    baselineName,
    unit: "ms",
    target,
  });
  return {
    results: {
      burstMs: { ours: oursMs, minimal: minimalMs, minimal4096: minimal4096Ms, epoll: epollMs },
    },
    rows: [
      ...(ctx.hasCc ? [row(epollMs, "C epoll server, backlog 4096", { atMost: 1.2 })] : []),
      row(minimalMs, "minimal Deno, backlog 511", undefined),
      row(minimal4096Ms, "minimal Deno, backlog 4096", undefined),
    ],
  };
}
