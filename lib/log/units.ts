/**
 * Byte counts and durations as people read them, for the log, the load
 * report and error messages.
 *
 * @module
 */

/** Formats a byte count with a decimal unit: `512 bytes`, `1.5 kB`, `64 MB`. */
export function formatBytes(bytes: number): string {
  const units = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte"] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return new Intl.NumberFormat("en", {
    style: "unit",
    unit: units[unit],
    unitDisplay: unit === 0 ? "long" : "short",
    maximumFractionDigits: value < 10 && unit > 0 ? 1 : 0,
  }).format(value);
}

/** Formats milliseconds as `850ms`, `2.5s` or `3 min`. */
export function formatDuration(ms: number): string {
  const [value, unit] = ms < 1000
    ? [ms, "millisecond"]
    : ms < 120_000
    ? [ms / 1000, "second"]
    : [ms / 60_000, "minute"];
  return new Intl.NumberFormat("en", {
    style: "unit",
    unit,
    unitDisplay: unit === "minute" ? "short" : "narrow",
    maximumFractionDigits: value < 10 && unit !== "millisecond" ? 1 : 0,
  }).format(value);
}
