// Numbers as the product shows them: 86%, 928, 1,204,311, +12%, +4.2%, −12.
// A true minus sign (U+2212), not a hyphen, for negative values.

const DASH = "—";
const minus = (text) => text.replace("-", "\u2212");
const nf = (options) => new Intl.NumberFormat("en-US", options);

export function count(value) {
  return value === null || value === undefined ? DASH : minus(nf({ maximumFractionDigits: 0 }).format(value));
}

// A share in [0, 1] as a whole percentage: 0.862 → "86%".
export function share(value) {
  return value === null || value === undefined ? DASH : nf({ style: "percent", maximumFractionDigits: 0 }).format(value);
}

// One decimal below 10 %, none above: +4.2%, +12%.
function signedPercent(points) {
  if (Math.abs(points) < 0.05) return "0%";
  const digits = Math.abs(points) < 10 ? 1 : 0;
  return minus(nf({ signDisplay: "exceptZero", maximumFractionDigits: digits, minimumFractionDigits: digits }).format(points)) + "%";
}

// Change relative to last week (0.12 → "+12%").
export const relative = (value) => (value === null || value === undefined ? null : signedPercent(value * 100));

// Change of a share in percentage points (0.011 → "+1.1%").
export const points = (value) => (value === null || value === undefined ? null : signedPercent(value * 100));

// Change of a count (−12).
export const signedCount = (value) =>
  value === null || value === undefined ? null : minus(nf({ signDisplay: "exceptZero", maximumFractionDigits: 0 }).format(value));

export const score = (value) => count(value === null || value === undefined ? null : Math.round(value));

// "2026-11-29T02:15:07Z" → "2026-11-29 02:15 UTC"
export function computedAt(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `Computed ${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())} UTC`;
}

export function shortDay(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}
