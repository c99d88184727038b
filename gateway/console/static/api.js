// The gateway's HTTP API as the console uses it: /system/* and /function/<name>.
// Credentials are the browser's own (basic auth, realm "faas"), sent on every request.

/** An answer other than 2xx; `message` is the API's own error text. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`.trim();
  const text = (await response.text().catch(() => "")).trim();
  if (text) {
    message = text;
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed.error === "string") message = parsed.error;
    } catch {
      // plain text: kept as it is
    }
  }
  return new ApiError(response.status, message);
}

async function request(method, path, body, signal) {
  const init = { method, signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

const quoted = encodeURIComponent;

export const listFunctions = (signal) => request("GET", "/system/functions", undefined, signal);

export const describeFunction = (name, signal) =>
  request("GET", `/system/function/${quoted(name)}`, undefined, signal);

export function functionStats(window, name, signal) {
  const only = name ? `&name=${quoted(name)}` : "";
  return request("GET", `/system/stats?window=${window}${only}`, undefined, signal);
}

export const scaleFunction = (name, replicas) =>
  request("POST", `/system/scale-function/${quoted(name)}`, { serviceName: name, replicas });

export const updateFunction = (deployment) => request("PUT", "/system/functions", deployment);

/** Call a function; resolves to what came back, whatever its status. */
export async function invoke(name, { method, headers, body }) {
  const init = { method, headers, redirect: "manual", cache: "no-store" };
  if (!["GET", "HEAD"].includes(method)) init.body = body;
  const started = performance.now();
  const response = await fetch(`/function/${quoted(name)}`, init);
  const text = await response.text();
  return {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers.entries()],
    body: text,
    milliseconds: performance.now() - started,
  };
}

/**
 * Read a function's log lines (NDJSON), calling `onLine` with each parsed line.
 * With `follow`, the answer stays open until `signal` aborts it.
 */
export async function readLogs(name, { tail, follow, signal, onLine }) {
  const path = `/system/logs?name=${quoted(name)}&tail=${tail}&follow=${follow}`;
  const response = await fetch(path, { signal, headers: { Accept: "application/x-ndjson" } });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) {
      if (line.trim()) onLine(JSON.parse(line));
    }
  }
}
