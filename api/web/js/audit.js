// The auditor's section: search the audit log and request an audit export.
import { explain, get, post } from "./client.js";
import { $, busy, fill, h, message } from "./dom.js";

const COLUMNS = ["sequence", "time", "type", "actor", "subject", "on_hold"];

function results(items) {
  if (!items.length) return message("empty", "No audit records match. Widen the dates or clear the type and actor.");
  return h(
    "table",
    { className: "scorecard" },
    h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c === "on_hold" ? "Legal hold" : c[0].toUpperCase() + c.slice(1))))),
    h("tbody", {}, items.map((r) => h("tr", {}, COLUMNS.map((c) => h("td", {}, c === "on_hold" ? (r.on_hold ? "On hold" : "—") : r[c] ?? ""))))),
  );
}

function query() {
  return { from: $("audit-from").value, to: $("audit-to").value, type: $("audit-type").value.trim(), actor: $("audit-actor").value.trim(), limit: 50 };
}

async function search(event) {
  event?.preventDefault();
  busy($("audit-table"), "Searching…");
  try {
    const page = await get("/v1/audit", query());
    fill($("audit-table"), results(page.items || []));
  } catch (error) {
    fill($("audit-table"), message(error.kind === "unavailable" ? "empty" : "error", explain(error, "Audit search")));
  }
}

async function exportAudit() {
  const q = query();
  const body = { from: q.from || null, to: q.to || null, types: q.type ? [q.type] : [] };
  try {
    const answer = await post("/v1/audit/exports", body);
    $("audit-note").textContent = `Audit export requested${answer?.export_id ? ` (${answer.export_id})` : ""}. It will appear under the bell when it's ready.`;
  } catch (error) {
    $("audit-note").textContent = explain(error, "The audit export");
  }
}

export function setupAudit(me) {
  $("audit").hidden = false;
  const cap = me.capabilities?.["audit.export"];
  const off = cap && !(cap.enabled && cap.allowed);
  $("audit-actions").replaceChildren(h("button", { type: "button", id: "audit-export", disabled: off, onclick: exportAudit }, "Export audit CSV"));
  if (off) $("audit-note").textContent = `Audit export: ${cap.reason || "switched off for your organisation"}.`;
  $("audit-form").addEventListener("submit", search);
  search();
}
