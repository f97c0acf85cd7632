/**
 * Node status from resource.sched-status (flux-core >= 0.61), falling back to the
 * scheduler's sched.resource-status on ENOSYS (0.55). Both reply {all, down, allocated} as
 * RFC 20 R objects; the derivation follows Python's SchedResourceList (up = all − down,
 * free = up − allocated). Both RPCs only work on rank 0.
 */
import { Errno, FluxError } from "../errors";
import { expandHostlist } from "../hostlist";
import { parseIdset } from "../idset";
import { isObject, type Rpc } from "./rpc";

export interface NodeStatus {
  rank: number;
  hostname: string;
  state: "up" | "down";
  allocated: boolean;
  cores: number;
  coresAllocated: number;
  gpus: number;
}

export interface ResourceCounts {
  total: number;
  up: number;
  allocated: number;
}

export interface ResourceSummary {
  nodes: NodeStatus[];
  up: string[];
  down: string[];
  allocated: string[];
  free: string[];
  cores: ResourceCounts;
  gpus: ResourceCounts;
}

interface RankResources {
  cores: number;
  gpus: number;
}

/** Per-rank core/gpu counts and the R's hostnames (in ascending rank order). */
function decodeR(R: unknown, what: string): { ranks: Map<number, RankResources>; hosts: string[] } {
  const ranks = new Map<number, RankResources>();
  if (!isObject(R)) return { ranks, hosts: [] }; // some schedulers omit empty sets
  const execution = isObject(R.execution) ? R.execution : {};
  const rlite = Array.isArray(execution.R_lite) ? execution.R_lite : [];
  for (const entry of rlite) {
    if (!isObject(entry) || typeof entry.rank !== "string") throw new TypeError(`resource status: malformed R_lite entry in "${what}"`);
    const children = isObject(entry.children) ? entry.children : {};
    const cores = typeof children.core === "string" ? parseIdset(children.core).length : 0;
    const gpus = typeof children.gpu === "string" ? parseIdset(children.gpu).length : 0;
    for (const rank of parseIdset(entry.rank)) {
      const prev = ranks.get(rank) ?? { cores: 0, gpus: 0 };
      ranks.set(rank, { cores: prev.cores + cores, gpus: prev.gpus + gpus });
    }
  }
  const nodelist = Array.isArray(execution.nodelist) ? execution.nodelist : [];
  const hosts = nodelist.flatMap((h) => (typeof h === "string" ? expandHostlist(h) : []));
  return { ranks, hosts };
}

/** Builds the summary from a {all, down, allocated} reply. Pure. */
export function summarizeResources(reply: Record<string, unknown>): ResourceSummary {
  const all = decodeR(reply.all, "all");
  const down = decodeR(reply.down, "down");
  const allocated = decodeR(reply.allocated, "allocated");
  const ranks = [...all.ranks.keys()].sort((a, b) => a - b);
  const nodes: NodeStatus[] = ranks.map((rank, i) => {
    const res = all.ranks.get(rank)!;
    return {
      rank,
      hostname: all.hosts[i] ?? "",
      state: down.ranks.has(rank) ? "down" : "up",
      allocated: (allocated.ranks.get(rank)?.cores ?? 0) > 0,
      cores: res.cores,
      coresAllocated: allocated.ranks.get(rank)?.cores ?? 0,
      gpus: res.gpus,
    };
  });
  const hostsWhere = (pred: (n: NodeStatus) => boolean) => nodes.filter(pred).map((n) => n.hostname);
  const sum = (pick: (n: NodeStatus) => number, pred: (n: NodeStatus) => boolean = () => true) =>
    nodes.filter(pred).reduce((total, n) => total + pick(n), 0);
  const isUp = (n: NodeStatus) => n.state === "up";
  return {
    nodes,
    up: hostsWhere(isUp),
    down: hostsWhere((n) => !isUp(n)),
    allocated: hostsWhere((n) => n.allocated),
    free: hostsWhere((n) => isUp(n) && !n.allocated),
    cores: { total: sum((n) => n.cores), up: sum((n) => n.cores, isUp), allocated: sum((n) => n.coresAllocated) },
    gpus: {
      total: sum((n) => n.gpus),
      up: sum((n) => n.gpus, isUp),
      allocated: [...allocated.ranks.values()].reduce((total, r) => total + r.gpus, 0),
    },
  };
}

export async function resources(rpc: Rpc): Promise<ResourceSummary> {
  let reply: Record<string, unknown>;
  try {
    reply = await rpc.call("resource.sched-status", undefined, { nodeid: 0 });
  } catch (err) {
    if (!(err instanceof FluxError && err.errno === Errno.ENOSYS)) throw err;
    reply = await rpc.call("sched.resource-status", undefined, { nodeid: 0 });
  }
  return summarizeResources(reply);
}
