// The gateway's HTTP API as the console uses it: /system/* and /function/<name>, a function
// named by its key (`<name>.<namespace>` outside the default namespace, namespaces.js).
// The login's credentials live in this module's memory only (a reload asks again) and go
// out as `Authorization: Basic` on every call; the browser's own store of credentials and
// cookies is never used (`credentials: "omit"`). docs/security.md, "The web console".

let authorization = null;
let onRefused = () => {};

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

/** `Basic <base64 of user:password>`, the text in UTF-8 (as the gateway reads it). */
function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""))}`;
}

/** Whether the console holds credentials (it forgets them on a reload). */
export const loggedIn = () => authorization !== null;

/** Called when the gateway refuses the held credentials (401): they are forgotten first. */
export function whenRefused(handler) {
  onRefused = handler;
}

export function logOut() {
  authorization = null;
}

/** Check `user` and `password` against the gateway and keep them; an ApiError if refused. */
export async function logIn(user, password) {
  const candidate = basic(user, password);
  const response = await fetch("/system/info", {
    headers: { Accept: "application/json", Authorization: candidate },
    credentials: "omit",
    cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  authorization = candidate;
}

/** fetch() with the held credentials, and only those. */
async function authorized(path, init, keepOwnAuthorization = false) {
  const headers = new Headers(init.headers);
  if (authorization && !(keepOwnAuthorization && headers.has("Authorization"))) {
    headers.set("Authorization", authorization);
  }
  const response = await fetch(path, { ...init, headers, credentials: "omit" });
  const sent = headers.get("Authorization");
  if (response.status === 401 && path.startsWith("/system/") && sent === authorization) {
    authorization = null;
    onRefused(await failure(response.clone()));
  }
  return response;
}

async function request(method, path, body, signal) {
  const init = { method, signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await authorized(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

const quoted = encodeURIComponent;

export const listNamespaces = (signal) => request("GET", "/system/namespaces", undefined, signal);

/** The functions of `namespace` (null: the default one). */
export function listFunctions(namespace, signal) {
  const only = namespace ? `?namespace=${quoted(namespace)}` : "";
  return request("GET", `/system/functions${only}`, undefined, signal);
}

export const describeFunction = (name, signal) =>
  request("GET", `/system/function/${quoted(name)}`, undefined, signal);

export function functionStats(window, name, signal) {
  const only = name ? `&name=${quoted(name)}` : "";
  return request("GET", `/system/stats?window=${window}${only}`, undefined, signal);
}

export const scaleFunction = (name, replicas) =>
  request("POST", `/system/scale-function/${quoted(name)}`, { serviceName: name, replicas });

export const updateFunction = (deployment) => request("PUT", "/system/functions", deployment);

/**
 * Call a function; resolves to what came back, whatever its status. The login goes along
 * (the gateway needs it with GATEWAY_INVOKE_AUTH, and never passes it to the function)
 * unless `headers` has an Authorization of its own, which is the function's.
 */
export async function invoke(name, { method, headers, body }) {
  const init = { method, headers, redirect: "manual", cache: "no-store" };
  if (!["GET", "HEAD"].includes(method)) init.body = body;
  const started = performance.now();
  const response = await authorized(`/function/${quoted(name)}`, init, true);
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
  const response = await authorized(path, { signal, headers: { Accept: "application/x-ndjson" } });
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
