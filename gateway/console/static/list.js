// The functions list: every function, its replicas (a job function: its jobs), state and
// recent calls, polled.
import { functionStats, listFunctions } from "./api.js";
import { poll } from "./poll.js";
import { count, h, jobsText, percent, rate, replicaState, scalesToZero, seconds } from "./format.js";

const INTERVAL = 3000;
const WINDOW = 300; // seconds of "recent" calls

const COLUMNS = [
  ["name", "Function"],
  ["image", "Image"],
  ["versions", "Versions"],
  ["replicas", "Replicas"],
  ["jobs", "Jobs"],
  ["state", "State"],
  ["invocations", "Invocations"],
  ["rate", "Rate"],
  ["errors", "Errors"],
  ["p50", "p50"],
  ["p99", "p99"],
];

// Versions and their weights appear once the API lists them (`versions` on a function),
// jobs once it lists a job function (`jobs`).
function versionsText(fn) {
  return fn.versions.map((v) => `${v.name ?? v.version ?? v.image}${v.weight !== undefined ? ` (${v.weight}%)` : ""}`).join(", ");
}

function cells(fn, stats) {
  const recent = stats?.recent;
  const state = replicaState(fn);
  return {
    image: fn.image,
    versions: Array.isArray(fn.versions) ? versionsText(fn) : "",
    replicas: `${fn.availableReplicas}/${fn.replicas}`,
    jobs: jobsText(fn),
    state: h("span", {}, h("span", { class: `badge ${state}` }, state),
      scalesToZero(fn) ? h("span", { class: "badge zero", title: "Scales to zero when idle" }, "to zero") : null),
    invocations: count(stats?.invocations ?? fn.invocationCount),
    rate: rate(recent?.rate),
    errors: recent ? `${count(recent.errors)} · ${percent(recent.errors, recent.invocations)}` : "–",
    p50: seconds(recent?.p50),
    p99: seconds(recent?.p99),
  };
}

export function showList(main, signal) {
  const summary = h("p", { class: "muted", id: "list-summary" }, "Loading functions…");
  const head = h("tr");
  const body = h("tbody");
  const table = h("table", { class: "functions", "aria-describedby": "list-summary" },
    h("caption", { class: "visually-hidden" }, "Functions, updated every few seconds"),
    h("thead", {}, head), body);
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Functions"), summary),
    h("div", { class: "table-wrap" }, table),
  );
  const rows = new Map(); // name -> {row, cells by column}
  let shownColumns = null;

  function header(columns) {
    head.replaceChildren(...columns.map(([key, label]) => h("th", { scope: "col", class: `col-${key}` }, label)));
  }

  async function tick() {
    const [functions, stats] = await Promise.all([
      listFunctions(signal),
      functionStats(WINDOW, null, signal),
    ]);
    if (signal.aborted) return;
    const byName = new Map(stats.functions.map((s) => [s.name, s]));
    const versions = functions.some((fn) => Array.isArray(fn.versions));
    const jobs = functions.some((fn) => fn.jobs);
    const columns = COLUMNS.filter(([key]) => (versions || key !== "versions") && (jobs || key !== "jobs"));
    if (columns.length !== shownColumns?.length || columns.some((c, i) => c !== shownColumns[i])) {
      shownColumns = columns;
      header(columns);
      rows.clear();
      body.replaceChildren();
    }
    functions.sort((a, b) => a.name.localeCompare(b.name));
    const seen = new Set();
    for (const fn of functions) {
      seen.add(fn.name);
      let entry = rows.get(fn.name);
      if (!entry) {
        const link = h("a", { href: `#/functions/${encodeURIComponent(fn.name)}` }, fn.name);
        const row = h("tr", { "data-function": fn.name });
        const tds = {};
        for (const [key, label] of columns) {
          const cell = key === "name"
            ? h("th", { scope: "row", class: "col-name" }, link)
            : h("td", { class: `col-${key}`, "data-label": label });
          tds[key] = cell;
          row.append(cell);
        }
        entry = { row, tds };
        rows.set(fn.name, entry);
      }
      body.append(entry.row); // keeps the order; a focused link stays focused
      for (const [key, value] of Object.entries(cells(fn, byName.get(fn.name)))) {
        const td = entry.tds[key];
        if (!td) continue;
        if (typeof value === "string") {
          if (td.textContent !== value) td.textContent = value;
        } else if (td.firstChild?.textContent !== value.textContent) {
          td.replaceChildren(value);
        }
      }
    }
    for (const [name, entry] of rows) {
      if (!seen.has(name)) {
        entry.row.remove();
        rows.delete(name);
      }
    }
    const window = stats.window >= 60 ? `${Math.round(stats.window / 60)} min` : `${Math.round(stats.window)} s`;
    summary.textContent = functions.length
      ? `${functions.length} function${functions.length === 1 ? "" : "s"}; rate, errors (5xx) and latency over the last ${window}.`
      : "No functions deployed yet: deploy one with `faas deploy`.";
  }

  poll(tick, INTERVAL, signal);
}
