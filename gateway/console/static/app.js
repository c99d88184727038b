// The console's entry: a hash router between the functions list and a function's page.
import { showFunction } from "./function.js";
import { showList } from "./list.js";

const main = document.getElementById("main");
let current = null; // the shown view's AbortController: aborting stops its polling

function route() {
  current?.abort();
  current = new AbortController();
  const hash = decodeURIComponent(location.hash.replace(/^#/, ""));
  const match = hash.match(/^\/functions\/([^/]+)$/);
  main.replaceChildren();
  document.querySelectorAll("header nav a").forEach((link) => {
    if (link.getAttribute("href") === "#/" && !match) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  if (match) showFunction(main, match[1], current.signal);
  else showList(main, current.signal);
}

/** Move focus to the new view's heading, as a page load would (keyboard, screen readers). */
function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

window.addEventListener("hashchange", () => {
  route();
  focusHeading();
});
route();
