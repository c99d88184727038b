// Namespaces as the gateway names them (gateway/namespaces.py): a function of the default
// namespace by its name, one of another namespace by `<name>.<namespace>` (its key), which
// every /system path and /function/ call takes. Function names never hold a dot.

/** A listed function's key; `defaultNamespace` is the first of GET /system/namespaces. */
export function functionKey(fn, defaultNamespace) {
  return fn.namespace && fn.namespace !== defaultNamespace ? `${fn.name}.${fn.namespace}` : fn.name;
}

/** A key's name and namespace (null: the default one). */
export function splitKey(key) {
  const dot = key.lastIndexOf(".");
  return dot > 0 && dot < key.length - 1
    ? { name: key.slice(0, dot), namespace: key.slice(dot + 1) }
    : { name: key, namespace: null };
}

/** The address of the functions list of `namespace` (null: the default one's). */
export function listAddress(namespace) {
  return namespace ? `#/?namespace=${encodeURIComponent(namespace)}` : "#/";
}
