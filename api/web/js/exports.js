// Export buttons, the list of the user's exports, and the notification bell.
// Exports run in the background (POST /v1/exports); the page polls their state and,
// when one is ready, asks for a short-lived download link.
import { explain, get, post } from "./client.js";
import { $, h } from "./dom.js";
import * as fmt from "./format.js";

const FORMATS = [
  ["csv", "exports.csv", "Export CSV"],
  ["pdf", "exports.pdf", "Export PDF"],
];
const when = (iso) => new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
// Exports requested from this page: polled until the list shows them finished (the list
// may not show a new one at once: the request is folded from the log first).
const pending = new Set();
let pollTimer = null;
let bellTimer = null;
let onFinished = () => {};

// Whether a capability lets this user export, and a sentence saying why not (/v1/me).
function capability(me, name, label) {
  const cap = me.capabilities && me.capabilities[name];
  if (!cap) return { allowed: false, say: `${label} export isn't available on this server yet.` };
  const on = cap.enabled && cap.allowed;
  return { allowed: on, say: on ? null : `${label} export is off: ${cap.reason || `${name} is switched off for your organisation`}.` };
}

// filters(): the page's current grouping and filters; finished(): called when an export
// requested here is done (the overview's "Reports generated" has moved).
export function setupExports(me, filters, finished) {
  onFinished = finished || onFinished;
  const box = $("export-buttons");
  const notes = [];
  for (const [format, name, label] of FORMATS) {
    const cap = capability(me, name, format.toUpperCase());
    const button = h("button", { type: "button", "data-format": format, id: `export-${format}`, disabled: !cap.allowed, "aria-describedby": "export-note", onclick: () => requestExport(format, filters()) }, label);
    box.append(button);
    if (cap.say) notes.push(cap.say);
  }
  const said = notes.join(" ");
  const off = box.querySelectorAll("button:disabled").length > 0 && !/charts/i.test(said);
  $("export-note").textContent = said + (off ? " Charts and tables stay available." : "");
  refreshExports();
}

async function requestExport(format, query) {
  const note = $("export-note");
  const body = { format, ...Object.fromEntries(Object.entries(query).filter(([, v]) => v)) };
  try {
    const answer = await post("/v1/exports", body);
    pending.add(answer.export_id);
    note.textContent = `${format.toUpperCase()} export requested. You'll see it below and under the bell when it's ready.`;
    refreshExports();
  } catch (error) {
    note.textContent = explain(error, `The ${format.toUpperCase()} export`);
  }
}

async function downloadLink(item, holder) {
  try {
    const link = await post(`/v1/exports/${encodeURIComponent(item.export_id)}/link`);
    holder.replaceChildren(h("a", { href: link.url, className: "download", rel: "noopener", "data-export": item.export_id }, `Download ${item.format.toUpperCase()}`), h("span", { className: "muted small" }, ` link valid until ${when(link.expires_at)}`));
    holder.querySelector("a").focus();
  } catch (error) {
    holder.textContent = explain(error, "The download link");
  }
}

function exportItem(item) {
  const status = h("span", { className: `pill ${item.status}` }, item.status);
  const facts = [item.rows !== null && item.rows !== undefined ? `${fmt.count(item.rows)} rows` : null, item.size_bytes ? `${fmt.count(Math.ceil(item.size_bytes / 1024))} KB` : null].filter(Boolean).join(" · ");
  const holder = h("span", { className: "export-action" });
  if (item.status === "ready") holder.append(h("button", { type: "button", onclick: () => downloadLink(item, holder) }, "Get download link"));
  if (item.status === "failed") holder.append(item.reason || "The export failed; request it again.");
  if (item.status === "expired") holder.append("Link expired; request the export again.");
  return h("li", { "data-export": item.export_id, "data-status": item.status }, h("strong", {}, item.format.toUpperCase()), " ", status, " ", h("span", { className: "muted small" }, when(item.requested_at)), facts ? ` · ${facts}` : "", " ", holder);
}

async function refreshExports() {
  clearTimeout(pollTimer);
  const list = $("export-list");
  try {
    const { items } = await get("/v1/exports");
    list.replaceChildren(...items.slice(0, 5).map(exportItem));
    const finished = new Set(items.filter((i) => i.status !== "queued" && i.status !== "running").map((i) => i.export_id));
    const before = pending.size;
    for (const id of pending) if (finished.has(id)) pending.delete(id);
    if (pending.size < before) onFinished();
    if (pending.size || items.some((i) => !finished.has(i.export_id))) pollTimer = setTimeout(refreshExports, 2000);
    else refreshBell();
  } catch (error) {
    list.replaceChildren();
    if (error.kind !== "unavailable") list.append(h("li", { className: "muted" }, explain(error, "Your exports")));
  }
}

// The bell: unread count, and the latest notifications in a panel.
export function setupBell() {
  const bell = $("bell");
  bell.hidden = false;
  bell.onclick = () => {
    const open = bell.getAttribute("aria-expanded") !== "true";
    bell.setAttribute("aria-expanded", String(open));
    $("inbox").hidden = !open;
    if (open) $("inbox").querySelector("button, a")?.focus();
  };
  document.addEventListener("keydown", (e) => e.key === "Escape" && !$("inbox").hidden && (bell.click(), bell.focus()));
  refreshBell();
}

async function markRead(n) {
  try {
    await post(`/v1/notifications/${encodeURIComponent(n.notification_id)}/read`);
  } finally {
    refreshBell();
    refreshExports();
  }
}

async function refreshBell() {
  clearTimeout(bellTimer);
  const bell = $("bell"), badge = $("unread"), list = $("inbox-list");
  try {
    const page = await get("/v1/notifications", { limit: 10 });
    bell.disabled = false;
    badge.hidden = page.unread === 0;
    badge.textContent = page.unread > 99 ? "99+" : String(page.unread);
    bell.setAttribute("aria-label", `Notifications, ${page.unread} unread`);
    bell.dataset.unread = page.unread;
    list.replaceChildren(
      ...(page.items.length
        ? page.items.map((n) => h("li", { className: n.read ? "read" : "unread" }, h("button", { type: "button", onclick: () => markRead(n) }, h("span", {}, n.title), h("span", { className: "muted small" }, when(n.created_at)))))
        : [h("li", { className: "muted" }, "No notifications. Exports you request will show up here when they're ready.")]),
    );
    bellTimer = setTimeout(refreshBell, 15000);
  } catch (error) {
    bell.disabled = true;
    badge.hidden = true;
    bell.setAttribute("aria-label", error.kind === "unavailable" ? "Notifications aren't available on this server yet" : explain(error, "Notifications"));
    bell.title = bell.getAttribute("aria-label");
  }
}
