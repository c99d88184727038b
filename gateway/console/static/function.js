// A function's page: its state, charts of its recent calls, invoke, scale, deploy, logs.
// It is named by its key (`<name>.<namespace>` outside the default namespace), which every
// call to the API takes; the page shows the name and the namespace apart.
import {
  ApiError,
  describeFunction,
  functionStats,
  invoke,
  readLogs,
  scaleFunction,
  updateFunction,
} from "./api.js";
import { lineChart } from "./charts.js";
import { count, h, jobsText, percent, rate, replicaState, scalesToZero, seconds } from "./format.js";
import { listAddress, splitKey } from "./namespaces.js";
import { poll } from "./poll.js";

const INTERVAL = 2000;
const CHART_WINDOW = 10; // seconds each chart point covers (the stats' window)
const SUMMARY_WINDOW = 300;
const SPAN = 10 * 60 * 1000; // the charts show the last 10 minutes of this page's polls
const MIN_SPAN = 60 * 1000;
const LOG_TAIL = 100;
const LOG_KEEP = 500;
const SHOWN_BODY = 64 * 1024;

// The scaling labels (docs/scaling.md) and their defaults, shown even when unset.
const SCALING = [
  ["com.faas.scale.min", "1"],
  ["com.faas.scale.max", "20"],
  ["com.faas.scale.target", "–"],
  ["com.faas.scale.zero", "false"],
  ["com.faas.scale.zero_after", "5m"],
  ["com.faas.scale.factor", "20"],
];
// Labels the platform sets itself, which an update must not send back.
const PLATFORM_LABEL = /^(com\.docker\.|com\.faas\.(function|managed)$)/;

let unique = 0;
const id = (stem) => `${stem}-${++unique}`;

/** A labelled form control: the label is tied to the control by id. */
function field(label, control, hint) {
  control.id ||= id("field");
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintId = id("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** Where a form reports: errors as alerts, successes politely. */
function outcome() {
  const node = h("p", { class: "outcome", role: "status" });
  return {
    node,
    ok(text) {
      node.className = "outcome ok";
      node.setAttribute("role", "status");
      node.textContent = text;
    },
    fail(error) {
      node.className = "outcome error";
      node.setAttribute("role", "alert");
      const status = error instanceof ApiError ? `${error.status}: ` : "";
      node.textContent = `${status}${error.message}`;
    },
  };
}

function definitionList(entries) {
  return h("dl", { class: "pairs" },
    entries.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

/** Where a function is called (README, "Routing"): its path here, its host names. */
function urlList(urls) {
  const names = (list) => list?.length
    ? h("ul", { class: "plain" }, list.map((name) => h("li", {}, h("code", {}, name))))
    : h("span", { class: "muted" }, "None.");
  return h("div", { "data-testid": "urls" }, definitionList([
    ["Path", h("code", {}, `${location.origin}${urls.path}`)],
    ["Host names", names(urls.hosts)],
    ["Custom domains", names(urls.domains)],
  ]));
}

/** A function's triggers (docs/triggers.md): what fires each, and a schedule's next runs. */
function triggerList(triggers) {
  return h("div", { "data-testid": "triggers" }, definitionList(triggers.map((t) => [
    t.name,
    t.kind === "schedule"
      ? h("span", {}, h("code", {}, t.schedule), ` ${t.timezone}, ${t.mode}; next: `,
          (t.nextRuns ?? []).join(", ") || "never")
      : h("span", {}, "topics ", h("code", {}, (t.topics ?? []).join(", ")), `, ${t.mode}`),
  ])));
}

function section(title, ...children) {
  const headingId = id("section");
  return h("section", { class: "card", "aria-labelledby": headingId },
    h("h2", { id: headingId }, title), ...children);
}

function invokeForm(name) {
  const method = h("select", {}, ["POST", "GET", "PUT", "PATCH", "DELETE"].map((m) => h("option", {}, m)));
  const headers = h("textarea", { rows: 2, spellcheck: "false", placeholder: "Content-Type: text/plain" });
  const body = h("textarea", { rows: 4, spellcheck: "false", name: "body" });
  const result = h("div", { class: "invoke-result", "aria-live": "polite" });
  const report = outcome();
  const button = h("button", { type: "submit" }, "Invoke");
  const form = h("form", { class: "invoke", "aria-label": `Invoke ${name}` },
    h("div", { class: "row" }, field("Method", method), field("Headers", headers, "One per line: Name: value")),
    field("Body", body), h("div", { class: "actions" }, button), report.node, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sent = new Headers();
    try {
      for (const line of headers.value.split("\n")) {
        if (!line.trim()) continue;
        const at = line.indexOf(":");
        if (at < 1) throw new Error(`not a header: ${line.trim()} (expected Name: value)`);
        sent.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
      }
    } catch (error) {
      report.fail(error);
      return;
    }
    button.disabled = true;
    report.ok("Calling…");
    try {
      const answer = await invoke(name, { method: method.value, headers: sent, body: body.value });
      report.ok("");
      const shown = answer.body.length > SHOWN_BODY
        ? `${answer.body.slice(0, SHOWN_BODY)}\n… (${count(answer.body.length)} characters in all)`
        : answer.body;
      result.replaceChildren(
        h("p", { class: "status-line" },
          h("span", { class: `badge ${answer.status < 400 ? "ready" : "failed"}`, "data-testid": "invoke-status" },
            `${answer.status} ${answer.statusText}`),
          ` in ${answer.milliseconds.toFixed(0)} ms`),
        h("details", {}, h("summary", {}, `Headers (${answer.headers.length})`),
          definitionList(answer.headers)),
        h("pre", { class: "body", "data-testid": "invoke-body", tabindex: 0, "aria-label": "Response body" }, shown),
      );
    } catch (error) {
      report.fail(error);
    } finally {
      button.disabled = false;
    }
  });
  return section("Invoke", form);
}

function scaleForm(name, current) {
  const replicas = h("input", { type: "number", min: 0, max: 100, step: 1, required: true, inputmode: "numeric" });
  const report = outcome();
  const form = h("form", { class: "inline", "aria-label": `Scale ${name}` },
    field("Replicas", replicas), h("button", { type: "submit" }, "Scale"), report.node);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await scaleFunction(name, Number(replicas.value));
      report.ok(answer.message);
    } catch (error) {
      report.fail(error);
    }
  });
  return { form, set(value) { if (document.activeElement !== replicas && !replicas.value) replicas.value = value; } };
}

// What a PUT takes back from a description, as it is (GET /system/function/<name>).
const DEFINITION = ["envProcess", "envVars", "annotations", "constraints", "secrets", "limits",
  "requests", "readOnlyRootFilesystem"];

/**
 * The function's whole definition with a new image: a PUT replaces the definition, so
 * everything else the description shows goes back unchanged (its name and namespace too).
 */
function redeployment(fn, image) {
  const labels = Object.fromEntries(Object.entries(fn.labels ?? {}).filter(([key]) => !PLATFORM_LABEL.test(key)));
  const deployment = { service: fn.name, image, labels };
  if (fn.namespace) deployment.namespace = fn.namespace;
  for (const key of DEFINITION) {
    if (fn[key] !== undefined && fn[key] !== null && fn[key] !== "") deployment[key] = fn[key];
  }
  return deployment;
}

/** Deploy a new image: a form for functions the API deployed, a note for a stack's. */
function deployForm(name, describe) {
  const image = h("input", { type: "text", required: true, spellcheck: "false", autocomplete: "off" });
  const report = outcome();
  const form = h("form", { class: "inline", "aria-label": `Deploy a new image of ${name}` },
    field("Image", image, "A rolling update to this image; the rest of the definition (environment, secrets, limits, labels) stays as it is."),
    h("button", { type: "submit" }, "Deploy"), report.node);
  const stackNote = h("p", { class: "hint stack-note", "data-testid": "stack-note" });
  const node = h("div", { hidden: true }, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await updateFunction(redeployment(describe(), image.value.trim()));
      report.ok(answer.message);
    } catch (error) {
      report.fail(error);
    }
  });
  return {
    node,
    set(fn) {
      node.hidden = false;
      const managed = fn.labels?.["com.faas.managed"] === "true";
      if (!managed) {
        const stack = fn.labels?.["com.docker.stack.namespace"];
        stackNote.textContent = `Deployed by ${stack ? `the stack ${stack}` : "its own service definition"}, `
          + "not through the API: update its image there (e.g. docker stack deploy), "
          + "so that the stack file and the function stay the same.";
        if (node.firstChild !== stackNote) node.replaceChildren(stackNote);
        return;
      }
      if (node.firstChild !== form) node.replaceChildren(form);
      if (document.activeElement !== image && !image.value) image.value = fn.image;
    },
  };
}

function logsPanel(name, signal) {
  const output = h("pre", { class: "logs", role: "log", tabindex: 0, "aria-label": `Logs of ${name}`, "data-testid": "logs" });
  const follow = h("input", { type: "checkbox", checked: true });
  const report = outcome();
  let reading = null;
  let lines = 0;

  function append(line) {
    const time = line.timestamp ? line.timestamp.slice(11, 19) : "";
    const atEnd = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    output.append(h("span", { class: "line" }, h("span", { class: "time" }, time), " ",
      h("span", { class: "instance" }, (line.instance || "").slice(0, 6)), " ", line.text), "\n");
    lines += 1;
    while (lines > LOG_KEEP) {
      output.firstChild.remove(); // the line
      output.firstChild.remove(); // its newline
      lines -= 1;
    }
    if (atEnd) output.scrollTop = output.scrollHeight;
  }

  async function start() {
    reading?.abort();
    reading = new AbortController();
    const stop = reading.signal;
    signal.addEventListener("abort", () => reading?.abort(), { once: true });
    output.replaceChildren();
    lines = 0;
    report.ok(follow.checked ? "Following…" : "");
    try {
      await readLogs(name, { tail: LOG_TAIL, follow: follow.checked, signal: stop, onLine: append });
      if (!stop.aborted) report.ok(lines ? "" : "No log lines.");
    } catch (error) {
      if (!stop.aborted) report.fail(error);
    }
  }

  follow.addEventListener("change", start);
  const reload = h("button", { type: "button", class: "secondary", onclick: start }, "Reload");
  const controls = h("div", { class: "row controls" },
    h("label", { class: "check" }, follow, " Follow new lines"), reload);
  start();
  return section("Logs", controls, report.node, output);
}

/** The page of the function `key` names. */
export function showFunction(main, key, signal) {
  const { name: shortName, namespace: keyNamespace } = splitKey(key);
  const heading = h("h1", {}, shortName);
  const namespace = h("p", { class: "muted namespace", "data-testid": "namespace" });
  const subtitle = h("p", { class: "muted image" });
  const badges = h("p", { class: "badges" });
  const summary = h("div", { class: "summary" });
  const charts = h("div", { class: "charts" });
  const settings = h("div");
  const scale = scaleForm(key);
  const notFound = outcome();
  let described = null;
  const deploy = deployForm(key, () => described);
  const samples = { rate: [], errors: [], p50: [], p99: [], ready: [], desired: [] };

  main.append(
    h("p", { class: "back" }, h("a", { href: listAddress(keyNamespace) }, "← All functions")),
    h("div", { class: "title" }, heading, badges), namespace, subtitle, notFound.node,
    h("div", { class: "summary-wrap", "aria-label": "Last 5 minutes", role: "group" }, summary),
    charts,
    h("div", { class: "columns" },
      invokeForm(key),
      section("Scale and deploy", scale.form, deploy.node),
    ),
    section("Labels and scaling", settings),
    logsPanel(key, signal),
  );

  function record(now, series, value) {
    const points = samples[series];
    points.push([now, value]);
    while (points.length && points[0][0] < now - SPAN) points.shift();
  }

  function drawCharts() {
    const perSecond = (value) => rate(value);
    // From the first poll on, growing to SPAN: a page just opened shows its first minute.
    const oldest = samples.rate[0]?.[0] ?? Date.now();
    const span = Math.min(SPAN, Math.max(MIN_SPAN, Date.now() - oldest));
    charts.replaceChildren(
      lineChart({ title: "Calls per second", span, format: perSecond,
        series: [{ label: "calls/s", points: samples.rate, className: "s1" }] }),
      lineChart({ title: "Errors (5xx) per second", span, format: perSecond,
        series: [{ label: "errors/s", points: samples.errors, className: "s3" }] }),
      lineChart({ title: "Latency", span, format: seconds,
        series: [{ label: "p50", points: samples.p50, className: "s1" },
                 { label: "p99", points: samples.p99, className: "s2" }] }),
      lineChart({ title: "Replicas", span, format: (v) => String(Math.round(v)),
        series: [{ label: "ready", points: samples.ready, className: "s1" },
                 { label: "desired", points: samples.desired, className: "s2" }] }),
    );
  }

  function showSettings(fn) {
    const labels = Object.entries(fn.labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
    const scaling = SCALING.map(([key, fallback]) => [key.replace("com.faas.scale.", ""),
      fn.labels?.[key] ?? `${fallback} (default)`]);
    settings.replaceChildren(
      ...(fn.urls ? [h("h3", {}, "URLs"), urlList(fn.urls)] : []),
      ...(fn.triggers?.length ? [h("h3", {}, "Triggers"), triggerList(fn.triggers)] : []),
      h("h3", {}, "Scaling"), definitionList(scaling),
      h("h3", {}, "Labels"),
      labels.length ? definitionList(labels) : h("p", { class: "muted" }, "None."),
      ...(Object.keys(fn.annotations ?? {}).length
        ? [h("h3", {}, "Annotations"), definitionList(Object.entries(fn.annotations))] : []),
      ...(fn.envProcess ? [h("h3", {}, "Process"), h("p", {}, h("code", {}, fn.envProcess))] : []),
    );
  }

  let settingsShown = "";
  async function tick() {
    let fn;
    try {
      fn = await describeFunction(key, signal);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        notFound.fail(error);
        return;
      }
      throw error;
    }
    const [recent, chart] = await Promise.all([
      functionStats(SUMMARY_WINDOW, key, signal),
      functionStats(CHART_WINDOW, key, signal),
    ]);
    if (signal.aborted) return;
    described = fn;
    const now = Date.now();
    const last = recent.functions[0];
    const point = chart.functions[0];
    const state = replicaState(fn);
    subtitle.textContent = fn.image;
    if (namespace.lastChild?.textContent !== fn.namespace) {
      namespace.replaceChildren("Namespace: ", h("a", { href: listAddress(keyNamespace) }, fn.namespace));
    }
    badges.replaceChildren(
      h("span", { class: `badge ${state}` }, state),
      scalesToZero(fn) ? h("span", { class: "badge zero" }, "scales to zero") : "",
      fn.updateState ? h("span", { class: "badge" }, `update ${fn.updateState}`) : "",
    );
    const stat = (label, value, testid) =>
      h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", { class: "value", "data-testid": testid }, value));
    summary.replaceChildren(
      fn.jobs
        ? stat("Jobs", jobsText(fn), "jobs")
        : stat("Replicas ready/desired", `${fn.availableReplicas}/${fn.replicas}`, "replicas"),
      stat("Invocations", count(last?.invocations ?? fn.invocationCount), "invocations"),
      stat("Rate (5 min)", rate(last?.recent.rate)),
      stat("Errors (5 min)", last ? `${count(last.recent.errors)} · ${percent(last.recent.errors, last.recent.invocations)}` : "–"),
      stat("p50 (5 min)", seconds(last?.recent.p50)),
      stat("p99 (5 min)", seconds(last?.recent.p99)),
    );
    record(now, "rate", point?.recent.rate ?? 0);
    record(now, "errors", point && chart.window > 0 ? point.recent.errors / chart.window : 0);
    record(now, "p50", point?.recent.p50 ?? null);
    record(now, "p99", point?.recent.p99 ?? null);
    record(now, "ready", fn.availableReplicas);
    record(now, "desired", fn.replicas);
    drawCharts();
    scale.set(fn.replicas);
    deploy.set(fn);
    const shown = JSON.stringify([fn.labels, fn.annotations, fn.envProcess, fn.urls, fn.triggers]);
    if (shown !== settingsShown) {
      settingsShown = shown;
      showSettings(fn);
    }
  }

  drawCharts();
  poll(tick, INTERVAL, signal);
}
