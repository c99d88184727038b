// The functions list: every function of one namespace (the picker's, kept in the address),
// its replicas (a job function: its jobs), state and recent calls, polled.
import { ApiError, functionStats, listFunctions, listNamespaces } from "./api.js";
import { poll } from "./poll.js";
import { count, h, jobsText, percent, rate, replicaState, scalesToZero, seconds } from "./format.js";
import { functionKey, listAddress } from "./namespaces.js";

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

/** A namespace the gateway does not have (404) is the answer to show, not a failed poll. */
function unknownNamespace(error) {
  if (error instanceof ApiError && error.status === 404) return error;
  throw error;
}

/** The namespace picker: GET /system/namespaces, the default first (and always there). */
function namespacePicker(onChange) {
  const select = h("select", { id: "namespace-picker", onchange: () => onChange(select.value) });
  let shown = "";
  return {
    node: h("div", { class: "field namespace" }, h("label", { for: select.id }, "Namespace"), select),
    /** Show `names` (options rebuilt only when they change), `chosen` selected. */
    set(names, chosen) {
      if (names.join("\n") !== shown) {
        shown = names.join("\n");
        select.replaceChildren(...names.map((name, index) =>
          h("option", { value: name }, index === 0 ? `${name} (default)` : name)));
      }
      if (select.value !== chosen) select.value = chosen;
    },
  };
}

/** The list of namespace `asked` (null: the default one's); the picker changes it in
 * place (focus stays on the picker) and records the choice in the address. */
export function showList(main, asked, signal) {
  const summary = h("p", { class: "muted", id: "list-summary" }, "Loading functions…");
  const problem = h("p", { class: "outcome error", role: "alert" });
  const head = h("tr");
  const body = h("tbody");
  const table = h("table", { class: "functions", "aria-describedby": "list-summary" },
    h("caption", { class: "visually-hidden" }, "Functions, updated every few seconds"),
    h("thead", {}, head), body);
  let namespace = asked || null;
  let defaultNamespace = null;
  let listing = null; // the shown namespace's AbortController: aborting stops its polling
  const picker = namespacePicker((chosen) => {
    namespace = chosen === defaultNamespace ? null : chosen;
    history.pushState(null, "", listAddress(namespace));
    start();
  });
  main.append(
    h("div", { class: "title" }, h("h1", {}, "Functions"), picker.node, summary),
    problem,
    h("div", { class: "table-wrap" }, table),
  );
  const rows = new Map(); // name -> {row, cells by column}
  let shownColumns = null;

  function header(columns) {
    head.replaceChildren(...columns.map(([key, label]) => h("th", { scope: "col", class: `col-${key}` }, label)));
  }

  function clear() {
    rows.clear();
    body.replaceChildren();
  }

  async function tick(stop) {
    const [namespaces, listed, stats] = await Promise.all([
      listNamespaces(stop),
      listFunctions(namespace, stop).catch(unknownNamespace),
      functionStats(WINDOW, null, stop),
    ]);
    if (stop.aborted) return;
    defaultNamespace = namespaces[0];
    picker.set(namespaces, namespace ?? defaultNamespace);
    if (listed instanceof ApiError) {
      clear();
      summary.textContent = "";
      const text = `${listed.status}: ${listed.message}`;
      if (problem.textContent !== text) problem.textContent = text;
      return;
    }
    problem.textContent = "";
    const functions = listed;
    const byKey = new Map(stats.functions.map((s) => [s.name, s]));
    const versions = functions.some((fn) => Array.isArray(fn.versions));
    const jobs = functions.some((fn) => fn.jobs);
    const columns = COLUMNS.filter(([key]) => (versions || key !== "versions") && (jobs || key !== "jobs"));
    if (columns.length !== shownColumns?.length || columns.some((c, i) => c !== shownColumns[i])) {
      shownColumns = columns;
      header(columns);
      clear();
    }
    functions.sort((a, b) => a.name.localeCompare(b.name));
    const seen = new Set();
    for (const fn of functions) {
      seen.add(fn.name);
      const fnKey = functionKey(fn, defaultNamespace);
      let entry = rows.get(fn.name);
      if (!entry) {
        const link = h("a", { href: `#/functions/${encodeURIComponent(fnKey)}` }, fn.name);
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
      for (const [key, value] of Object.entries(cells(fn, byKey.get(fnKey)))) {
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
      : namespace && namespace !== defaultNamespace
        ? `No functions in namespace ${namespace} yet: deploy one with \`faas deploy --namespace ${namespace}\`.`
        : "No functions deployed yet: deploy one with `faas deploy`.";
  }

  function start() {
    listing?.abort();
    listing = new AbortController();
    const stop = listing.signal;
    signal.addEventListener("abort", () => listing.abort(), { once: true, signal: stop });
    clear();
    shownColumns = null;
    summary.textContent = "Loading functions…";
    problem.textContent = "";
    poll(() => tick(stop), INTERVAL, stop);
  }

  start();
}
