// Export buttons, the list of the user's exports, and the notification bell.
// Exports run in the background (POST /v1/exports); the page polls their state and,
// when one is ready, asks for a short-lived download link. Where the server has no
// background exports yet, CSV falls back to the report's own CSV download (the same
// query, gated by the same capability).
import { ApiError, call, explain, get, post } from "./client.js";
import { $, h } from "./dom.js";
import * as fmt from "./format.js";

const FORMATS = [
  ["csv", "exports.csv", "Export CSV"],
  ["pdf", "exports.pdf", "Export PDF"],
];
let pollTimer = null;
let bellTimer = null;

// Whether a capability lets this user export, and a sentence saying why not: from
// /v1/me, else by asking the CSV endpoint itself (a one-row-per-tenant CSV: the server
// answers 403 naming the capability when it is off).
async function capability(me, name, label) {
  const cap = me.capabilities && me.capabilities[name];
  if (cap) {
    const on = cap.enabled && cap.allowed;
    return { allowed: on, say: on ? null : `${label} export is off: ${cap.reason || `${name} is switched off for your organisation`}.` };
  }
  if (me.capabilities || name !== "exports.csv") return { allowed: false, say: `${label} export isn't available on this server yet.` };
  try {
    const response = await call("GET", "/v1/reports/engagement", { query: { format: "csv", group_by: "tenant" }, raw: true });
    await response.body?.cancel();
    // A platform admin's CSV spans tenants and leaves out those with CSV exports off.
    const excluded = response.headers.get("SkillMind-Excluded-Tenants");
    return { allowed: true, say: excluded ? `CSV leaves out tenants with CSV exports off: ${excluded}.` : null };
  } catch (error) {
    return { allowed: false, say: `${error instanceof ApiError ? error.message : String(error)}.` };
  }
}

export async function setupExports(me, filters) {
  const box = $("export-buttons");
  const notes = [];
  for (const [format, name, label] of FORMATS) {
    const cap = await capability(me, name, format.toUpperCase());
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
    note.textContent = `${format.toUpperCase()} export queued${answer.position ? ` (position ${answer.position})` : ""}. You'll see it below and under the bell when it's ready.`;
    refreshExports();
  } catch (error) {
    // No background exports on this server: the report's own CSV (same query, same capability check).
    if (error.kind === "unavailable" && format === "csv") return downloadDirect(query);
    note.textContent = explain(error, `The ${format.toUpperCase()} export`);
  }
}

async function downloadDirect(query) {
  const note = $("export-note");
  note.textContent = "Preparing your CSV…";
  try {
    const response = await call("GET", "/v1/reports/engagement", { query: { ...query, format: "csv" }, raw: true });
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "engagement.csv";
    const url = URL.createObjectURL(await response.blob());
    h("a", { href: url, download: name }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    note.textContent = `Downloaded ${name}.`;
  } catch (error) {
    note.textContent = explain(error, "The CSV download");
  }
}

async function downloadLink(item, holder) {
  try {
    const link = await post(`/v1/exports/${encodeURIComponent(item.export_id)}/link`);
    holder.replaceChildren(h("a", { href: link.url, className: "download", rel: "noopener", "data-export": item.export_id }, `Download ${item.format.toUpperCase()}`), h("span", { className: "muted small" }, ` link valid until ${new Date(link.expires_at).toUTCString()}`));
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
  return h("li", { "data-export": item.export_id, "data-status": item.status }, h("strong", {}, item.format.toUpperCase()), " ", status, " ", h("span", { className: "muted small" }, new Date(item.requested_at).toLocaleString()), facts ? ` · ${facts}` : "", " ", holder);
}

async function refreshExports() {
  clearTimeout(pollTimer);
  const list = $("export-list");
  try {
    const { items } = await get("/v1/exports");
    list.replaceChildren(...items.slice(0, 5).map(exportItem));
    if (items.some((i) => i.status === "queued" || i.status === "running")) pollTimer = setTimeout(refreshExports, 2000);
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
        ? page.items.map((n) => h("li", { className: n.read ? "read" : "unread" }, h("button", { type: "button", onclick: () => markRead(n) }, h("span", {}, n.title), h("span", { className: "muted small" }, new Date(n.created_at).toLocaleString()))))
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
