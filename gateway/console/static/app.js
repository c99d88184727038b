// The console's entry: the login, then a hash router between the functions list
// (`#/`, `#/?namespace=<ns>`) and a function's page (`#/functions/<key>`).
import { loggedIn, logOut, whenRefused } from "./api.js";
import { showFunction } from "./function.js";
import { showList } from "./list.js";
import { showLogin } from "./login.js";
import { clearPoll } from "./poll.js";

const main = document.getElementById("main");
const logOutButton = document.getElementById("log-out");
let current = null; // the shown view's AbortController: aborting stops its polling

function route() {
  current?.abort();
  current = new AbortController();
  main.replaceChildren();
  if (!loggedIn()) {
    login();
    return;
  }
  logOutButton.hidden = false;
  const hash = location.hash.replace(/^#/, "");
  const query = hash.indexOf("?");
  const path = decodeURIComponent(query < 0 ? hash : hash.slice(0, query));
  const params = new URLSearchParams(query < 0 ? "" : hash.slice(query));
  const match = path.match(/^\/functions\/([^/]+)$/);
  document.querySelectorAll("header nav a").forEach((link) => {
    if (link.getAttribute("href") === "#/" && !match) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  if (match) showFunction(main, match[1], current.signal);
  else showList(main, params.get("namespace"), current.signal);
}

/** The login form in place of the view; the view the address names once logged in. */
function login(reason = "") {
  current?.abort();
  logOutButton.hidden = true;
  clearPoll();
  showLogin(main, () => {
    route();
    focusHeading();
  }, reason);
}

/** Move focus to the new view's heading, as a page load would (keyboard, screen readers). */
function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

whenRefused((error) => login(`Logged out: ${error.message}`));
logOutButton.addEventListener("click", () => {
  logOut();
  login();
});
window.addEventListener("hashchange", () => {
  route();
  if (loggedIn()) focusHeading();
});
route();
