// Browser entry point: the layout, the session, and client-side routing between the views.
import { BrokerUnavailableError, NotAuthenticatedError, currentSession, loadSession, request, setSession } from "./api";
import { View, ViewContext, errorPanel, isAbort, sleep } from "./app";
import { h, replaceChildren } from "./dom";
import { filesView } from "./views/files";
import { jobView } from "./views/job";
import { jobsView } from "./views/jobs";
import { loginView } from "./views/login";
import { submitView } from "./views/submit";

interface Route { pattern: RegExp; view: View; public?: boolean; nav?: string }

const routes: Route[] = [
  { pattern: /^(?:ui\/?|ui\/jobs\/?)?$/, view: jobsView, nav: "jobs" },
  { pattern: /^ui\/jobs\/([^/]+)\/?$/, view: jobView, nav: "jobs" },
  { pattern: /^ui\/submit\/?$/, view: submitView, nav: "submit" },
  { pattern: /^ui\/files\/?$/, view: filesView, nav: "files" },
  { pattern: /^ui\/login\/?$/, view: loginView, public: true },
];

const basePath = new URL(document.baseURI).pathname;

/** The current path relative to the app root, e.g. "ui/jobs/123". */
function routePath(): string {
  const path = location.pathname;
  return path.startsWith(basePath) ? decodeURIComponent(path.slice(basePath.length)) : path.replace(/^\//, "");
}

const main = h("main", { id: "main", tabindex: "-1" });
const banner = h("div", { class: "banner", role: "status", "aria-live": "polite", hidden: true });
const navLinks = {
  jobs: h("a", { href: "ui/jobs" }, "Jobs"),
  submit: h("a", { href: "ui/submit" }, "Submit"),
  files: h("a", { href: "ui/files" }, "Files"),
};
const mainNav = h("nav", { "aria-label": "Main" }, navLinks.jobs, navLinks.submit, navLinks.files);
const sessionBox = h("div", { class: "session" });
let current: AbortController | undefined;
let firstRender = true;

function layout(): void {
  const app = document.getElementById("app")!;
  replaceChildren(
    app,
    h(
      "header",
      { class: "topbar" },
      h("a", { class: "brand", href: "ui/jobs" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "ƒ"), "Flux MiniCluster"),
      mainNav,
      sessionBox,
    ),
    banner,
    main,
  );
}

function renderSessionBox(): void {
  const s = currentSession();
  mainNav.hidden = s.authRequired && !s.user;
  if (!s.authRequired) {
    replaceChildren(sessionBox, h("span", { class: "muted" }, "Authentication off"));
    return;
  }
  if (!s.user) {
    replaceChildren(sessionBox);
    return;
  }
  replaceChildren(
    sessionBox,
    h("span", { class: "user", title: "Signed in as" }, s.user),
    h("button", { type: "button", class: "button button-quiet", onclick: logout }, "Log out"),
  );
}

async function logout(): Promise<void> {
  try {
    await request("ui/logout", { method: "POST" });
  } catch {
    // The session is dropped locally either way; the cookie expires with the token.
  }
  setSession({ ...currentSession(), user: null, csrfToken: null });
  renderSessionBox();
  navigate("ui/login", { replace: false });
}

function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = new URL(to, document.baseURI);
  if (options.replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  void render();
}

function showBanner(message: string | null): void {
  banner.hidden = message === null;
  banner.textContent = message ?? "";
}

function loginRedirect(): void {
  const next = routePath() + location.search;
  setSession({ ...currentSession(), user: null, csrfToken: null });
  renderSessionBox();
  navigate(next.startsWith("ui/") && !next.startsWith("ui/login") ? `ui/login?next=${encodeURIComponent(next)}` : "ui/login", { replace: true });
}

async function render(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const path = routePath();
  const route = routes.find((r) => r.pattern.test(path));
  for (const [name, link] of Object.entries(navLinks)) {
    if (route?.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  showBanner(null);
  replaceChildren(main, h("p", { class: "muted loading" }, "Loading…"));
  const session = currentSession();
  if (route && !route.public && session.authRequired && !session.user) return loginRedirect();

  const ctx: ViewContext = {
    main,
    params: route ? (route.pattern.exec(path)?.slice(1) ?? []) : [],
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    navigate,
    setTitle: (title) => (document.title = `${title} · Flux MiniCluster`),
    backgroundError: (err) => {
      if (controller.signal.aborted || isAbort(err)) return;
      if (err instanceof NotAuthenticatedError && currentSession().authRequired) return loginRedirect();
      if (err instanceof BrokerUnavailableError) return showBanner(`Flux broker not reachable: ${err.message} Retrying…`);
      showBanner(err instanceof Error ? err.message : String(err));
    },
    connected: () => showBanner(null),
  };
  if (!route) {
    ctx.setTitle("Not found");
    replaceChildren(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", null, h("a", { href: "ui/jobs" }, "Go to the jobs list")));
  } else {
    try {
      await route.view(ctx);
    } catch (err) {
      if (controller.signal.aborted || isAbort(err)) return;
      if (err instanceof NotAuthenticatedError && currentSession().authRequired) return loginRedirect();
      ctx.setTitle(err instanceof BrokerUnavailableError ? "Broker not reachable" : "Error");
      replaceChildren(main, errorPanel(err, () => void render()));
      if (err instanceof BrokerUnavailableError) retryLater(controller.signal);
    }
  }
  // After client-side navigation, move focus to the new page (unless the view focused a field).
  if (!firstRender && !controller.signal.aborted && !main.contains(document.activeElement)) (main.querySelector("h1") ?? main).focus();
  firstRender = false;
}

/** While the broker is down, re-render every few seconds until it answers. */
function retryLater(signal: AbortSignal): void {
  sleep(5000, signal).then(
    () => void render(),
    () => undefined,
  );
}

/** Same-document links go through the router instead of reloading the page. */
function onClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element | null)?.closest("a");
  if (!link || link.hasAttribute("download") || (link.target && link.target !== "_self")) return;
  const rawHref = link.getAttribute("href") ?? "";
  if (rawHref.startsWith("#")) {
    // In-page anchors would resolve against <base> (another URL): move focus instead.
    event.preventDefault();
    document.getElementById(rawHref.slice(1))?.focus();
    return;
  }
  const url = new URL(link.href, document.baseURI);
  if (url.origin !== location.origin || !url.pathname.startsWith(basePath)) return;
  const rest = url.pathname.slice(basePath.length);
  if (rest !== "" && !rest.startsWith("ui/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

async function boot(): Promise<void> {
  layout();
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => void render());
  window.addEventListener("flux:logged-in", renderSessionBox);
  for (;;) {
    try {
      await loadSession();
      break;
    } catch (err) {
      if (err instanceof NotAuthenticatedError) {
        setSession({ authRequired: true, user: null, csrfToken: null });
        break;
      }
      replaceChildren(main, errorPanel(err, () => location.reload()));
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
  renderSessionBox();
  await render();
}

void boot();
