// Small helpers to build DOM nodes and format numbers (no innerHTML: text stays text).

/** An element with attributes (`on*` become listeners) and children (strings or nodes). */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return `${(value * 1000).toFixed(value < 0.01 ? 1 : 0)} ms`;
  return `${value.toFixed(2)} s`;
}

export function rate(value) {
  if (!value) return "0/s";
  return value < 10 ? `${value.toFixed(2)}/s` : `${value.toFixed(0)}/s`;
}

export function percent(part, whole) {
  if (!whole) return "–";
  const value = (100 * part) / whole;
  return `${value < 10 && value > 0 ? value.toFixed(1) : value.toFixed(0)}%`;
}

export function count(value) {
  return new Intl.NumberFormat("en").format(value ?? 0);
}

/** Whether a function goes to zero replicas when idle (com.faas.scale.zero=true). */
export const scalesToZero = (fn) => (fn.labels?.["com.faas.scale.zero"] || "") === "true";

/** A job function's jobs in words (docs/jobs.md: `jobs` in its record), else "". */
export function jobsText(fn) {
  if (!fn.jobs) return "";
  const queued = fn.jobs.queued === null || fn.jobs.queued === undefined ? "?" : count(fn.jobs.queued);
  return `${count(fn.jobs.running)} running · ${queued} queued`;
}

/** A function's state in words: job (its calls run as jobs), running, starting,
 * sleeping (at zero), stopped. */
export function replicaState(fn) {
  if (fn.jobs) return "job";
  if (fn.replicas === 0) return scalesToZero(fn) ? "sleeping" : "stopped";
  if (fn.availableReplicas < fn.replicas) return "starting";
  return "ready";
}
