// Shared types and helpers for views.
import { BrokerUnavailableError } from "./api";
import { h } from "./dom";

export interface ViewContext {
  readonly main: HTMLElement;
  /** Captured path segments of the route (e.g. the job id). */
  readonly params: string[];
  readonly query: URLSearchParams;
  /** Aborted when the user leaves the view: stop timers, streams and requests. */
  readonly signal: AbortSignal;
  navigate(to: string, options?: { replace?: boolean }): void;
  setTitle(title: string): void;
  /** For failures outside the first render (refreshes, streams): banner, login or error view. */
  backgroundError(err: unknown): void;
  /** Clears the "broker not reachable" banner after a successful refresh. */
  connected(): void;
}

export type View = (ctx: ViewContext) => Promise<void>;

/** A heading that takes focus after client-side navigation, so screen readers announce the page. */
export function pageHeading(title: string, ...extra: Node[]): HTMLElement {
  return h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, title), ...extra);
}

/** A block showing a failed request; 503s explain that the broker is down. */
export function errorPanel(err: unknown, retry?: () => void): HTMLElement {
  const unavailable = err instanceof BrokerUnavailableError;
  const message = err instanceof Error ? err.message : String(err);
  return h(
    "section",
    { class: unavailable ? "panel panel-unavailable" : "panel panel-error", role: "alert", "aria-labelledby": "error-title" },
    h("h2", { id: "error-title" }, unavailable ? "Flux broker not reachable" : "Something went wrong"),
    unavailable
      ? h("p", null, "The server is up but cannot talk to the Flux broker. Jobs keep running; this page retries on its own.")
      : null,
    h("p", { class: "error-message" }, message),
    retry ? h("button", { type: "button", class: "button", onclick: retry }, "Try again") : null,
  );
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

/** Resolves after `ms`, or rejects with AbortError when `signal` aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new DOMException("aborted", "AbortError"));
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
