// Login: exchanges the user name and token for the sidecar's session cookie.
import { ApiError, Session, currentSession, getJson, setSession } from "../api";
import { ViewContext, pageHeading } from "../app";
import { h, replaceChildren } from "../dom";

/** Where to go after logging in: only paths of this app, never another origin. */
export function safeNext(next: string | null): string {
  if (!next || !/^ui\/[A-Za-z0-9/_\-.~%ƒ?=&+]*$/.test(next) || next.includes("..")) return "ui/jobs";
  return next;
}

export async function loginView(ctx: ViewContext): Promise<void> {
  ctx.setTitle("Log in");
  const next = safeNext(ctx.query.get("next"));
  if (!currentSession().authRequired) {
    replaceChildren(
      ctx.main,
      pageHeading("Log in"),
      h("p", null, "Authentication is turned off on this server, so there is nothing to log in to. "),
      h("p", null, h("a", { href: next, class: "button" }, "Continue to the jobs")),
    );
    return;
  }
  if (currentSession().user) {
    ctx.navigate(next, { replace: true });
    return;
  }

  const error = h("p", { class: "form-error", role: "alert", id: "login-error", hidden: true });
  const user = h("input", { id: "login-user", name: "user", type: "text", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const token = h("input", { id: "login-token", name: "token", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "button button-primary" }, "Log in");
  const form = h(
    "form",
    { class: "card form login-form", novalidate: true, "aria-describedby": "login-help" },
    h("p", { id: "login-help", class: "hint" }, "Use the user name and token configured for this MiniCluster (FLUX_USER and FLUX_TOKEN)."),
    error,
    h("div", { class: "field" }, h("label", { for: "login-user" }, "User name"), user),
    h("div", { class: "field" }, h("label", { for: "login-token" }, "Token"), token),
    h("div", { class: "actions" }, button),
  );

  const showError = (message: string, field?: HTMLInputElement) => {
    error.textContent = message;
    error.hidden = false;
    for (const input of [user, token]) input.setAttribute("aria-invalid", String(input === field));
    (field ?? user).focus();
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!user.value.trim()) return showError("Enter your user name.", user);
    if (!token.value) return showError("Enter your token.", token);
    button.disabled = true;
    button.textContent = "Logging in…";
    try {
      const answer = await getJson<{ user: string; csrfToken: string }>("ui/login", {
        method: "POST",
        json: { user: user.value.trim(), token: token.value },
        signal: ctx.signal,
      });
      const next: Session = { authRequired: true, user: answer.user, csrfToken: answer.csrfToken };
      setSession(next);
      window.dispatchEvent(new Event("flux:logged-in"));
      ctx.navigate(safeNext(ctx.query.get("next")), { replace: true });
    } catch (err) {
      if (ctx.signal.aborted) return;
      const message =
        err instanceof ApiError && (err.status === 401 || err.status === 400 || err.status === 403)
          ? `Login failed: ${err.message}`
          : err instanceof Error
            ? err.message
            : String(err);
      token.value = "";
      showError(message, err instanceof ApiError && err.status === 429 ? user : token);
    } finally {
      button.disabled = false;
      button.textContent = "Log in";
    }
  });

  replaceChildren(ctx.main, h("div", { class: "narrow" }, pageHeading("Log in"), form));
  user.focus();
}
