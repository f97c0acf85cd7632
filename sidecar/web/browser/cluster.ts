// The cluster summary on the jobs page: nodes up/down/allocated, cores and GPUs.
import { getJson } from "./api";
import { h, replaceChildren } from "./dom";

interface Counts { total: number; up: number; allocated: number }

export interface ClusterSummary {
  up: string[];
  /** Undefined when the server only lists the up nodes (flux-restful-api's /v1/nodes). */
  down?: string[];
  allocated?: string[];
  cores?: Counts;
  gpus?: Counts;
  /** What submit enforces (FLUX_NUMBER_NODES, FLUX_HAS_GPUS); only from /v1/cluster. */
  limits?: { maxNodes: number; gpus: boolean };
  /** The broker's flux-core version; only from /v1/cluster. */
  fluxVersion?: string;
}

function names(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function counts(value: unknown): Counts | undefined {
  if (!value || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  const n = (x: unknown) => (typeof x === "number" ? x : Number(x) || 0);
  return { total: n(v.total), up: n(v.up), allocated: n(v.allocated) };
}

/** The resource summary (/v1/cluster); servers without it only list the up nodes (/v1/nodes). */
export async function loadCluster(signal: AbortSignal): Promise<ClusterSummary> {
  const answer = await getJson<Record<string, unknown>>("v1/cluster", { signal }).catch((err: unknown) => {
    if ((err as { status?: number }).status === 404) return undefined;
    throw err;
  });
  if (answer && typeof answer === "object" && "up" in answer) {
    const limits = answer.limits as { maxNodes?: unknown; gpus?: unknown } | undefined;
    return {
      up: names(answer.up),
      down: names(answer.down),
      allocated: names(answer.allocated),
      cores: counts(answer.cores),
      gpus: counts(answer.gpus),
      limits: typeof limits?.maxNodes === "number" ? { maxNodes: limits.maxNodes, gpus: limits.gpus === true } : undefined,
      fluxVersion: typeof answer.fluxVersion === "string" ? answer.fluxVersion : undefined,
    };
  }
  const nodes = await getJson<Record<string, unknown>>("v1/nodes", { signal });
  return { up: names(nodes?.nodes) };
}

function stat(label: string, value: string, detail?: string, tone?: string): HTMLElement {
  return h(
    "div",
    { class: `stat${tone ? ` stat-${tone}` : ""}` },
    h("dt", null, label),
    h("dd", null, h("span", { class: "stat-value" }, value), detail ? h("span", { class: "stat-detail", title: detail }, detail) : null),
  );
}

export function renderCluster(box: HTMLElement, summary: ClusterSummary): void {
  const { up, down, allocated, cores, gpus, fluxVersion } = summary;
  replaceChildren(
    box,
    h("h2", { id: "cluster-title", class: "visually-hidden" }, "Cluster"),
    h(
      "dl",
      { class: "stats" },
      stat("Nodes up", String(up.length), up.length ? up.join(", ") : "none", up.length ? "ok" : "bad"),
      down ? stat("Nodes down", String(down.length), down.length ? down.join(", ") : undefined, down.length ? "bad" : undefined) : null,
      allocated ? stat("Nodes allocated", String(allocated.length), allocated.length ? allocated.join(", ") : undefined) : null,
      cores ? stat("Cores in use", `${cores.allocated} / ${cores.up}`, `${cores.total} total`) : null,
      gpus ? stat("GPUs in use", `${gpus.allocated} / ${gpus.up}`, `${gpus.total} total`) : null,
      fluxVersion ? stat("Flux", fluxVersion, "flux-core version of the broker") : null,
    ),
  );
}
