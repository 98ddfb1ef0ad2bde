/**
 * Our load generator, both engines, against a compiled epoll one in C, on
 * the same server at concurrency 32. Needs a C compiler; without one there
 * is no figure.
 *
 * @module
 */

import { run } from "../../tests/_process.ts";
import type { Row } from "../_report.ts";
import { type Context, here, log, median } from "../_context.ts";
import { load } from "../_load.ts";
import { ours } from "../_servers.ts";

/** The load generators' cycles per second, and their rows. */
export async function measureLoadGenerator(
  ctx: Context,
): Promise<{ results: Record<string, unknown>; rows: Row[] }> {
  if (!ctx.hasCc) return { results: {}, rows: [] };
  log("load generator against compiled epoll");
  const { rounds, turnMs } = ctx.settings;
  const binary = `${ctx.workDir}/epoll_load`;
  await run("cc", ["-O2", "-o", binary, `${here}epoll_load.c`]);
  await using server = await ours("ours, quiet", ["--quiet"]);
  // All share two cores with the server, so each run is noisy: take short
  // turns, as the cycles figure does, and keep each one's median.
  await load(server.port, 32, { limit: ["--duration", "150ms"] });
  const turn = ["--duration", `${turnMs}ms`];
  const rates: Record<"c" | "epoll" | "portable", number[]> = { c: [], epoll: [], portable: [] };
  for (let round = 0; round < rounds; round++) {
    const compiled = JSON.parse(await run(binary, [String(server.port), "32", String(turnMs)]));
    rates.c.push(compiled.cycles / (compiled.elapsedMs / 1000));
    rates.epoll.push((await load(server.port, 32, { limit: turn })).cyclesPerSecond);
    rates.portable.push(
      (await load(server.port, 32, { engine: "portable", limit: turn })).cyclesPerSecond,
    );
  }
  const rows: Row[] = (["epoll", "portable"] as const).map((engine) => ({
    metric: `load generator cycles/s at concurrency 32, ${engine} engine`,
    ours: median(rates[engine]),
    baseline: median(rates.c),
    baselineName: "C epoll load generator",
    unit: "/s",
    // The portable engine is reported to show what the epoll one is for.
    target: engine === "epoll" ? { atLeast: 0.8 } : undefined,
  }));
  return {
    results: {
      loadGenerator: {
        epollEngine: median(rates.epoll),
        portableEngine: median(rates.portable),
        compiled: median(rates.c),
      },
    },
    rows,
  };
}
