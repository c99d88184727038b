// Polling the gateway, and the header's report of how the last poll went.

const state = document.getElementById("gateway-state");
const updated = document.getElementById("updated");

/** Report the last poll in the header: the state is announced (a live region) only
 * when it changes; the time of the update is not worth a screen reader's words. */
export function reportPoll(error) {
  const text = error ? `Gateway unreachable: ${error.message}` : "Live";
  if (state.textContent !== text) state.textContent = text;
  state.classList.toggle("down", Boolean(error));
  updated.textContent = error ? "" : `updated ${new Date().toLocaleTimeString("en-GB")}`;
}

/** Clear the header's report (nothing is polled while logged out). */
export function clearPoll() {
  state.textContent = "";
  state.classList.remove("down");
  updated.textContent = "";
}

/**
 * Call `tick` now and then every `interval` ms until `signal` aborts; skipped while the
 * page is hidden, so a background tab costs the gateway nothing.
 */
export function poll(tick, interval, signal) {
  let timer = null;
  const run = async () => {
    if (signal.aborted) return;
    if (!document.hidden) {
      try {
        await tick();
        reportPoll(null);
      } catch (error) {
        if (signal.aborted) return;
        reportPoll(error);
      }
    }
    if (!signal.aborted) timer = setTimeout(run, interval);
  };
  signal.addEventListener("abort", () => clearTimeout(timer));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !signal.aborted) {
      clearTimeout(timer);
      run();
    }
  }, { signal });
  run();
}
