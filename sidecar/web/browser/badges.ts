// State and result labels. The colour is decoration only: the text carries the meaning.
import { h } from "./dom";

export function stateBadge(state: unknown): HTMLElement {
  const name = typeof state === "string" && state ? state : "UNKNOWN";
  return h("span", { class: `badge state state-${name.toLowerCase().replace(/[^a-z]/g, "")}` }, name);
}

export function resultBadge(result: unknown): HTMLElement | string {
  if (typeof result !== "string" || !result) return "";
  return h("span", { class: `badge result result-${result.toLowerCase().replace(/[^a-z]/g, "")}` }, result);
}
