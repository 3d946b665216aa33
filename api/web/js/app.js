// The engagement page: signs the user in, asks the API who they are, then fills each
// section from the public API. A section that fails shows why and what to do; the rest
// of the page carries on.
import { engagementChart, legend } from "./chart.js";
import { ApiError, explain, get, whenSignedOut } from "./client.js";
import { $, busy, fill, h, message } from "./dom.js";
import * as fmt from "./format.js";
import { setupAudit } from "./audit.js";
import { setupBell, setupExports } from "./exports.js";
import { claims, clearToken, expired, setToken, takeTokenFromFragment, token } from "./session.js";
import { tile } from "./tiles.js";

const REPORT_ROLES = ["platform_admin", "company_admin", "program_owner", "manager", "mentor", "learner"];
// What each role may group the scorecard by; the API scopes the rows whatever is asked.
const GROUPS = {
  platform_admin: ["tenant", "program", "cohort", "learner"],
  company_admin: ["program", "cohort", "learner"],
  program_owner: ["program", "cohort", "learner"],
  manager: ["program", "cohort", "learner"],
  mentor: ["program", "cohort", "learner"],
  learner: ["learner"],
};
const ORDER = ["tenant", "program", "cohort", "learner"];
const TABLE_LIMIT = 200;

const state = { groupBy: "learner", programId: "", cohortId: "" };
const filters = () => ({ group_by: state.groupBy, program_id: state.programId, cohort_id: state.cohortId });

function showSignin(reason) {
  $("page").hidden = true;
  $("signout").hidden = $("bell").hidden = true;
  $("who").textContent = "";
  $("signin").hidden = false;
  $("signin-reason").textContent = reason || "Open the sign-in link you were given, or paste an access token.";
  $("token-input").focus();
}

// Who the user is: GET /v1/me when the server has it; otherwise the token's own claims,
// used only to shape the page (the API still decides every answer).
async function whoAmI() {
  try {
    return await get("/v1/me");
  } catch (error) {
    if (!(error instanceof ApiError) || error.kind !== "unavailable") throw error;
    const c = claims() || {};
    return { user_id: c.sub, tenant_id: c.tenant, roles: c.roles || [], capabilities: null };
  }
}

async function loadOverview() {
  const section = $("overview");
  try {
    const o = await get("/v1/overview");
    fill(
      section,
      tile("programs_tracked", "Programs tracked", o.programs_tracked, fmt.count(o.programs_tracked)),
      tile("median_engagement", "Engagement score", o.median_engagement, fmt.score(o.median_engagement), null, 1),
      tile("reports_generated_30d", "Reports generated (30 days)", o.reports_generated_30d, fmt.count(o.reports_generated_30d)),
      tile("audit_events", "Audit events", o.audit_events, fmt.count(o.audit_events)),
    );
  } catch (error) {
    fill(section, message("error", explain(error, "The overview")));
  }
}

function weekTiles(t) {
  const change = (raw, text) => (raw === null || raw === undefined ? null : { raw, text });
  return [
    tile("engagement", "Engagement", t.engagement.value, fmt.score(t.engagement.value), change(t.engagement.relative_change, fmt.relative(t.engagement.relative_change))),
    tile("weekly_active", "Weekly active", t.weekly_active.value, fmt.count(t.weekly_active.value), change(t.weekly_active.relative_change, fmt.relative(t.weekly_active.relative_change))),
    tile("completion_rate", "Completion rate", t.completion_rate.value, fmt.share(t.completion_rate.value), change(t.completion_rate.change, fmt.points(t.completion_rate.change)), 1, "vs last week", "in percentage points"),
    tile("at_risk", "At-risk", t.at_risk.value, fmt.count(t.at_risk.value), change(t.at_risk.change, fmt.signedCount(t.at_risk.change)), -1),
  ];
}

const yes = (v) => (v ? "Yes" : "No");
const COLUMNS = {
  group: [
    ["group_id", "Name", (r) => r.group_id],
    ["learners", "Learners", (r) => fmt.count(r.learners), "opt"],
    ["engagement", "Engagement", (r) => fmt.score(r.engagement)],
    ["weekly_active", "Weekly active", (r) => fmt.count(r.weekly_active)],
    ["completion_rate", "Completion", (r) => fmt.share(r.completion_rate)],
    ["at_risk", "At-risk", (r) => fmt.count(r.at_risk)],
  ],
  learner: [
    ["learner_id", "Learner", (r) => r.display_name || r.learner_id],
    ["cohort_id", "Cohort", (r) => r.cohort_id, "opt"],
    ["score", "Score", (r) => fmt.score(r.score)],
    ["active_7d", "Active (7 days)", (r) => yes(r.active_7d)],
    ["completed", "Completed", (r) => yes(r.completed), "opt"],
    ["at_risk", "At-risk", (r) => (r.at_risk ? h("span", { className: "pill bad" }, "At risk") : "No")],
  ],
};

// Short headings on a phone; screen readers always hear the full one.
const SHORT = { Engagement: "Score", "Weekly active": "Active", Completion: "Done", "Active (7 days)": "Active" };
const heading = (label) =>
  SHORT[label] ? [h("span", { className: "long" }, label), h("span", { className: "short", "aria-hidden": "true" }, SHORT[label])] : label;

function table(report) {
  const columns = COLUMNS[report.group_by === "learner" ? "learner" : "group"];
  const rows = report.rows.slice(0, TABLE_LIMIT);
  // Columns marked "opt" give way on a phone, so the rest fit without scrolling sideways.
  const cls = (key, opt) => [["group_id", "learner_id", "cohort_id"].includes(key) ? "" : "num", opt || ""].join(" ").trim();
  const caption = report.rows.length > TABLE_LIMIT
    ? `Showing ${fmt.count(TABLE_LIMIT)} of ${fmt.count(report.rows.length)} rows — filter by program or cohort, or export CSV for all.`
    : `${fmt.count(report.rows.length)} ${report.rows.length === 1 ? "row" : "rows"} on ${report.day}`;
  return h(
    "table",
    { className: "scorecard", "data-rows": report.rows.length },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map(([key, label, , opt]) => h("th", { scope: "col", className: cls(key, opt) }, heading(label))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map(([key, , show, opt]) => h("td", { className: cls(key, opt) }, show(r)))))),
  );
}

// The chart is redrawn when its card changes width (rotation, window resize).
let drawn = null;
function drawChart(series) {
  drawn = series;
  fill($("chart"), engagementChart(series, $("chart").clientWidth), legend(series[0]?.target ?? ""));
}
new ResizeObserver(() => drawn && $("chart").querySelector("svg") && Math.abs($("chart").querySelector("svg").viewBox.baseVal.width - $("chart").clientWidth) > 8 && drawChart(drawn)).observe($("chart"));

async function loadReport() {
  busy($("chart"));
  busy($("table"));
  $("computed").textContent = "";
  try {
    const report = await get("/v1/reports/engagement", { ...filters(), weeks: 8 });
    if (report.day === null) {
      const empty = "No scores yet. Scores appear once the nightly recompute (02:15 UTC) has run for your learners; check back tomorrow or ask your admin.";
      fill($("chart"), message("empty", empty));
      fill($("week-tiles"));
      fill($("table"), message("empty", "Nothing to list until the first scores are computed."));
      return;
    }
    $("computed").textContent = fmt.computedAt(report.computed_at);
    drawChart(report.series);
    fill($("week-tiles"), weekTiles(report.tiles));
    fill(
      $("table"),
      report.rows.length
        ? table(report)
        : message("empty", "No learners in your scope match these filters. Choose “All programs” and “All cohorts”, or ask an admin to assign learners to you."),
    );
  } catch (error) {
    const retry = h("button", { type: "button", onclick: loadReport }, "Try again");
    fill($("chart"), message("error", explain(error, "The engagement report"), retry));
    fill($("week-tiles"));
    fill($("table"));
  }
}

// Program and cohort choices come from the report itself, grouped that way, so they
// are exactly the ones in the user's scope.
async function options(select, groupBy, query, all) {
  const current = select.value;
  try {
    const report = await get("/v1/reports/engagement", { group_by: groupBy, weeks: 1, ...query });
    const ids = [...new Set(report.rows.map((r) => r.group_id))];
    select.replaceChildren(h("option", { value: "" }, all), ...ids.map((id) => h("option", { value: id }, id)));
    select.value = ids.includes(current) ? current : "";
  } catch {
    select.replaceChildren(h("option", { value: "" }, all));
  }
}

function setupFilters(roles) {
  const allowed = ORDER.filter((g) => roles.some((r) => (GROUPS[r] || []).includes(g)));
  state.groupBy = allowed.includes("program") ? "program" : allowed[0];
  const groupSelect = $("group-by");
  groupSelect.replaceChildren(...allowed.map((g) => h("option", { value: g }, g[0].toUpperCase() + g.slice(1))));
  groupSelect.value = state.groupBy;
  // A learner sees one row, their own: nothing to group or filter.
  $("filters").hidden = allowed.length < 2;
  groupSelect.onchange = () => ((state.groupBy = groupSelect.value), loadReport());
  $("program").onchange = async () => {
    state.programId = $("program").value;
    state.cohortId = "";
    await options($("cohort"), "cohort", { program_id: state.programId }, "All cohorts");
    loadReport();
  };
  $("cohort").onchange = () => ((state.cohortId = $("cohort").value), loadReport());
  if (allowed.length > 1) {
    options($("program"), "program", {}, "All programs");
    options($("cohort"), "cohort", {}, "All cohorts");
  }
}

async function start() {
  $("signin").hidden = true;
  $("page").hidden = false;
  $("signout").hidden = false;
  let me;
  try {
    me = await whoAmI();
  } catch (error) {
    if (error.kind !== "signin") fill($("overview"), message("error", explain(error, "Your profile")));
    return;
  }
  const roles = me.roles || [];
  $("who").textContent = `${me.user_id} · ${me.tenant_id} · ${roles.join(", ").replaceAll("_", " ")}`;
  const reader = roles.some((r) => REPORT_ROLES.includes(r));
  for (const id of ["overview", "engagement", "scorecard"]) $(id).hidden = !reader;
  if (!reader) {
    // Nothing will load in the hidden sections: they are not busy.
    for (const node of document.querySelectorAll("#overview, #engagement [aria-busy]")) node.removeAttribute("aria-busy");
    document.querySelector(".page-title").textContent = "Audit";
    $("page-note").hidden = false;
    $("page-note").textContent = "Engagement reports aren't part of your role. Ask your company admin if you need them.";
  } else {
    setupFilters(roles);
    loadOverview();
    loadReport();
    setupExports(me, filters, loadOverview);
  }
  setupBell();
  if (roles.includes("auditor") || roles.includes("platform_admin")) setupAudit(me);
}

function init() {
  takeTokenFromFragment();
  whenSignedOut((reason) => showSignin(`Your sign-in was refused (${reason}). Open a fresh sign-in link or paste a new token.`));
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken($("token-input").value);
    $("token-input").value = "";
    if (expired()) return showSignin("That token is not valid or has expired. Paste a current one.");
    start();
  });
  $("signout").addEventListener("click", () => {
    clearToken();
    location.reload();
  });
  if (!token()) return showSignin();
  if (expired()) {
    clearToken();
    return showSignin("Your sign-in link has expired. Ask for a new one, or paste a current token.");
  }
  start();
}

init();
