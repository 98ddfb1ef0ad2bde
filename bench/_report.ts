/**
 * Benchmark output: the markdown table and the SVG chart.
 *
 * @module
 */

/** One figure, with the baseline measured in the same run. */
export interface Row {
  metric: string;
  ours: number;
  baseline: number;
  baselineName: string;
  unit: string;
  /** The goal as a ratio of ours to the baseline, if there is one. */
  target: { atLeast: number } | { atMost: number } | undefined;
}

const number = (value: number) =>
  Number.isFinite(value)
    ? new Intl.NumberFormat("en", { maximumFractionDigits: value < 10 ? 2 : 0 }).format(value)
    : "n/a";

/** The rows as a markdown table, with each ratio and whether its target is met. */
export function renderTable(rows: Row[], machine: { cores: number; quick: boolean }): string {
  const lines = [
    `Benchmark on ${machine.cores} cores${
      machine.quick ? " (quick mode: too short to trust the figures)" : ""
    }`,
    "",
    "| figure | ours | baseline | ratio | target |",
    "| --- | ---: | ---: | ---: | --- |",
  ];
  for (const row of rows) {
    const ratio = row.ours / row.baseline;
    let target = "";
    if (row.target && "atLeast" in row.target) {
      target = `≥ ${row.target.atLeast}x ${ratio >= row.target.atLeast ? "met" : "**missed**"}`;
    } else if (row.target && "atMost" in row.target) {
      target = `≤ ${row.target.atMost}x ${ratio <= row.target.atMost ? "met" : "**missed**"}`;
    }
    lines.push(
      `| ${row.metric} | ${number(row.ours)} ${row.unit} | ${
        number(row.baseline)
      } ${row.unit} (${row.baselineName}) | ${
        Number.isFinite(ratio) ? ratio.toFixed(2) : "n/a"
      }x | ${target} |`,
    );
  }
  return lines.join("\n");
}

/** Cycles per second with median and 99th-percentile latency, per server and concurrency. */
export function renderLatencyTable(
  series: {
    name: string;
    points: { concurrency: number; cyclesPerSecond: number; p50Ms: number; p99Ms: number }[];
  }[],
): string {
  const lines = [
    "| server | concurrency | cycles/s | p50 | p99 |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const { name, points } of series) {
    for (const point of points) {
      lines.push(
        `| ${name} | ${point.concurrency} | ${number(point.cyclesPerSecond)} | ${
          point.p50Ms.toFixed(2)
        } ms | ${point.p99Ms.toFixed(2)} ms |`,
      );
    }
  }
  return lines.join("\n");
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

/** Cycles per second against concurrency, one line per server, as an SVG document. */
export function renderChart(
  series: { name: string; points: { concurrency: number; cyclesPerSecond: number }[] }[],
): string {
  const width = 640, height = 360, left = 70, right = 190, top = 30, bottom = 50;
  const concurrencies = [...new Set(series.flatMap((s) => s.points.map((p) => p.concurrency)))]
    .sort((a, b) => a - b);
  const maxRate = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.cyclesPerSecond)));
  const yMax = Math.ceil(maxRate / 1000) * 1000;
  // Concurrency grows by large factors: space the points evenly, as a log scale would.
  const x = (concurrency: number) =>
    left +
    (concurrencies.length === 1
      ? 0
      : (concurrencies.indexOf(concurrency) / (concurrencies.length - 1)) *
        (width - left - right));
  const y = (rate: number) => top + (1 - rate / yMax) * (height - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="14" font-weight="bold">Cycles per second (connect, send, read to EOF, close)</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const rate = (yMax / 4) * i;
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(rate)}" y2="${y(rate)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(rate) + 4}" text-anchor="end">${
        new Intl.NumberFormat("en").format(rate)
      }</text>`,
    );
  }
  for (const concurrency of concurrencies) {
    parts.push(
      `<text x="${x(concurrency)}" y="${
        height - bottom + 18
      }" text-anchor="middle">${concurrency}</text>`,
    );
  }
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${
      height - 12
    }" text-anchor="middle">concurrent connections</text>`,
  );
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length];
    const path = s.points.map((p) => `${x(p.concurrency)},${y(p.cyclesPerSecond)}`).join(" ");
    parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of s.points) {
      parts.push(
        `<circle cx="${x(p.concurrency)}" cy="${y(p.cyclesPerSecond)}" r="3" fill="${color}"/>`,
      );
    }
    const legendY = top + 10 + index * 20;
    parts.push(
      `<line x1="${width - right + 15}" x2="${
        width - right + 35
      }" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - right + 40}" y="${legendY + 4}">${s.name}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
