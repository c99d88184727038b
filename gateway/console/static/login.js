// The console's login: user and password, checked against the gateway, kept in memory.
import { logIn } from "./api.js";
import { h } from "./format.js";

/**
 * Show the login form in `main`; `loggedIn` runs once the gateway accepted the
 * credentials. `reason` says why it is shown again (the gateway refused them).
 */
export function showLogin(main, loggedIn, reason = "") {
  const user = h("input", { id: "login-user", name: "username", type: "text", required: true,
    autocomplete: "username", autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { id: "login-password", name: "password", type: "password",
    required: true, autocomplete: "current-password" });
  const report = h("p", { class: "outcome", role: "status" });
  const button = h("button", { type: "submit" }, "Log in");
  const form = h("form", { class: "login card", "aria-labelledby": "login-heading" },
    h("h1", { id: "login-heading" }, "Log in"),
    h("p", { class: "hint", id: "login-hint" },
      "The gateway's user and password (as for faas login). They stay in this tab's memory "
        + "only: reloading the page asks for them again."),
    h("div", { class: "field" }, h("label", { for: user.id }, "User"), user),
    h("div", { class: "field" }, h("label", { for: password.id }, "Password"), password),
    h("div", { class: "actions" }, button), report);
  form.setAttribute("aria-describedby", "login-hint");

  function fail(text) {
    report.className = "outcome error";
    report.setAttribute("role", "alert");
    report.textContent = text;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    report.className = "outcome";
    report.setAttribute("role", "status");
    report.textContent = "Checking…";
    try {
      await logIn(user.value, password.value);
      loggedIn();
    } catch (error) {
      const status = error.status ? `${error.status}: ` : "";
      fail(`${status}${error.message}`);
      password.select();
      password.focus();
    } finally {
      button.disabled = false;
    }
  });

  main.replaceChildren(form);
  if (reason) fail(reason);
  (user.value ? password : user).focus();
}
