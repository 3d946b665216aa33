// Figure tiles. Each carries the API's raw value in data-value (and data-change) so a
// test, or a curious user in devtools, can compare the page with the JSON.
import { h } from "./dom.js";

// direction: +1 when a rise is good news, −1 when a fall is (at-risk).
export function tile(key, label, value, shown, change = null, direction = 1, hint = "vs last week", unit = null) {
  let changeNode = null;
  if (change) {
    const sign = change.raw === 0 ? 0 : Math.sign(change.raw) * direction;
    const mood = sign > 0 ? "good" : sign < 0 ? "bad" : "flat";
    changeNode = h("span", { className: `tile-change ${mood}`, "data-change": change.raw, title: unit ? `Change ${unit}` : null }, change.text ?? "—", h("span", { className: "hint" }, ` ${hint}`), unit ? h("span", { className: "sr" }, ` (${unit})`) : null);
  }
  return h(
    "div",
    { className: "tile", "data-tile": key, "data-value": value ?? "" },
    h("span", { className: "tile-label" }, label),
    h("span", { className: "tile-value" }, shown),
    changeNode,
  );
}
