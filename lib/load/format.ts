/**
 * Load report formatting: the live progress line and the final table.
 *
 * @module
 */

import { formatBytes, formatDuration } from "../log/units.ts";
import type { LoadProgress, LoadReport } from "./run_load.ts";

const count = new Intl.NumberFormat("en");
const rate = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const ms = (value: number) =>
  `${new Intl.NumberFormat("en", { maximumFractionDigits: value < 10 ? 2 : 1 }).format(value)}ms`;

/**
 * One progress line: cycles, rate, errors, elapsed.
 *
 * @example
 * ```ts
 * import { formatLoadProgress } from "./format.ts";
 *
 * formatLoadProgress({ cycles: 12000, errors: 0, elapsedMs: 3000 });
 * // "12,000 cycles  4,000/s  0 errors  3s"
 * ```
 *
 * @param progress The figures so far.
 * @returns The line, without a newline.
 */
export function formatLoadProgress(progress: LoadProgress): string {
  const perSecond = progress.elapsedMs > 0 ? progress.cycles / (progress.elapsedMs / 1000) : 0;
  return `${count.format(progress.cycles)} cycles  ${rate.format(perSecond)}/s  ${
    count.format(progress.errors)
  } errors  ${formatDuration(progress.elapsedMs)}`;
}

/**
 * The final report as a small table.
 *
 * @example
 * ```ts
 * import { formatLoadReport, runLoad } from "../mod.ts";
 *
 * const report = await runLoad({ port: 8080, count: 100 });
 * console.log(formatLoadReport(report, "127.0.0.1:8080"));
 * ```
 *
 * @param report What the run measured.
 * @param target The server's address, for the heading.
 * @returns Several lines, without a final newline.
 */
export function formatLoadReport(report: LoadReport, target: string): string {
  const { latencyMs: latency } = report;
  const errorKinds = Object.entries(report.errors);
  const errorTotal = errorKinds.reduce((sum, [, n]) => sum + n, 0);
  return [
    `Load on ${target}: ${count.format(report.concurrency)} connections, ${
      formatDuration(report.elapsedMs)
    }, ${report.engine} engine`,
    `  cycles    ${count.format(report.cycles)} (${rate.format(report.cyclesPerSecond)}/s)`,
    `  latency   p50 ${ms(latency.p50)}  p90 ${ms(latency.p90)}  p99 ${ms(latency.p99)}  max ${
      ms(latency.max)
    }`,
    `  errors    ${
      errorTotal === 0
        ? "0"
        : `${count.format(errorTotal)} (${
          errorKinds.map(([kind, n]) => `${kind} ${count.format(n)}`).join(", ")
        })`
    }`,
    `  bytes     ${formatBytes(report.bytesSent)} sent, ${
      formatBytes(report.bytesReceived)
    } received`,
  ].join("\n");
}
