// The 8-week chart, drawn as SVG by hand: two lines and eight points need no chart
// library, and SVG stays crisp on any screen, scales with the card and is readable by
// assistive technology (a title, a description and a label per point).
import { shortDay } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const LEFT = 36, RIGHT = 28, TOP = 14, BOTTOM = 30;

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// series: [{day, engagement|null, target}] oldest first; scores are 0–100. Drawn at the
// container's width in CSS pixels, so labels keep their size from a phone to a desktop.
export function engagementChart(series, width) {
  const W = Math.max(280, Math.round(width || 640)), H = Math.round(Math.min(340, Math.max(220, W * 0.4)));
  const narrow = W < 520; // every other date label, so they never overlap
  const x = (i) => LEFT + (series.length < 2 ? 0 : (i * (W - LEFT - RIGHT)) / (series.length - 1));
  const y = (v) => TOP + ((100 - v) * (H - TOP - BOTTOM)) / 100;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-svg-title chart-svg-desc" });
  const known = series.filter((p) => p.engagement !== null);
  svg.append(
    el("title", { id: "chart-svg-title" }, "Engagement against target, weekly"),
    el("desc", { id: "chart-svg-desc" }, known.map((p) => `${shortDay(p.day)}: ${Math.round(p.engagement)}`).join(", ") || "No scores yet"),
  );
  for (const v of [0, 25, 50, 75, 100]) {
    svg.append(el("line", { class: "grid", x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }));
    svg.append(el("text", { class: "axis y-label", x: LEFT - 8, y: y(v) + 4, "text-anchor": "end" }, v));
  }
  series.forEach((p, i) => {
    const minor = narrow && (series.length - 1 - i) % 2 === 1;
    svg.append(el("text", { class: `axis x-label${minor ? " minor" : ""}`, x: x(i), y: H - 8, "text-anchor": "middle" }, shortDay(p.day)));
  });
  const target = series.map((p, i) => `${i ? "L" : "M"}${x(i)},${y(p.target)}`).join(" ");
  svg.append(el("path", { class: "line-target", d: target, "data-target": series[0]?.target ?? "" }));
  // The engagement line breaks where a week has no score, rather than inventing one.
  let d = "", pen = "M";
  series.forEach((p, i) => {
    if (p.engagement === null) return void (pen = "M");
    d += `${pen}${x(i)},${y(p.engagement)} `;
    pen = "L";
  });
  svg.append(el("path", { class: "line-engagement", d: d.trim() }));
  series.forEach((p, i) => {
    if (p.engagement === null) return;
    const dot = el("circle", { class: "point", cx: x(i), cy: y(p.engagement), r: 4, "data-value": p.engagement });
    dot.append(el("title", {}, `${shortDay(p.day)}: ${Math.round(p.engagement)} (target ${p.target})`));
    svg.append(dot);
  });
  return svg;
}

export function legend(target) {
  const item = (cls, text) => {
    const span = document.createElement("span");
    span.className = `key ${cls}`;
    span.textContent = text;
    return span;
  };
  const div = document.createElement("figcaption");
  div.className = "legend";
  div.append(item("key-engagement", "Engagement"), item("key-target", `Target ${target}`));
  return div;
}
