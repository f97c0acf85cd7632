/**
 * Fake nodes and a first-fit scheduler in the manner of sched-simple: a job asks either for
 * N nodes (optionally exclusive) each holding some slots, or for a number of slots placed on the
 * lowest ranks that fit. Produces RFC 20 R objects and the reply of resource.sched-status.
 */
import { compressHostlist } from "../../../sidecar/flux/hostlist";
import { formatIdset } from "../../../sidecar/flux/idset";

export interface NodeSpec {
  rank: number;
  hostname: string;
  cores: number;
  gpus: number;
}

/** What one job was given on one node. */
export interface NodeAllocation {
  rank: number;
  cores: number[];
  gpus: number[];
  /** number of task slots placed on this node */
  slots: number;
}

export interface ResourceRequest {
  /** null: slots may go anywhere */
  nodes: number | null;
  exclusive: boolean;
  /** total slots (nodes given: per node) */
  slots: number;
  coresPerSlot: number;
  gpusPerSlot: number;
}

export class Unsatisfiable extends Error {}

/** Reads the resource request of a jobspec built like JobspecV1.from_command. */
export function resourceRequest(jobspec: Record<string, unknown>): ResourceRequest {
  const top = (jobspec.resources as Array<Record<string, unknown>>)[0];
  if (!top) throw new Unsatisfiable("unsatisfiable request: no resources requested");
  const slotOf = (slot: Record<string, unknown>) => {
    if (slot?.type !== "slot") throw new Unsatisfiable(`unsatisfiable request: unsupported resource type ${String(slot?.type)}`);
    const children = (slot.with as Array<Record<string, unknown>>) ?? [];
    const count = (type: string) => Number(children.find((c) => c.type === type)?.count ?? 0);
    return { slots: Number(slot.count), coresPerSlot: Math.max(count("core"), 1), gpusPerSlot: count("gpu") };
  };
  if (top.type === "node") {
    return { nodes: Number(top.count), exclusive: top.exclusive === true, ...slotOf((top.with as Array<Record<string, unknown>>)?.[0]) };
  }
  return { nodes: null, exclusive: false, ...slotOf(top) };
}

interface NodeState extends NodeSpec {
  freeCores: Set<number>;
  freeGpus: Set<number>;
  down: boolean;
  drainReason?: { timestamp: number; reason: string };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export class ResourcePool {
  private readonly nodes: NodeState[];

  constructor(specs: NodeSpec[]) {
    this.nodes = specs.map((s) => ({ ...s, freeCores: new Set(range(s.cores)), freeGpus: new Set(range(s.gpus)), down: false }));
  }

  get size(): number {
    return this.nodes.length;
  }

  hostname(rank: number): string {
    return this.nodes[rank].hostname;
  }

  /** Throws Unsatisfiable when the request could never fit, even on an idle, fully up instance. */
  checkFeasible(req: ResourceRequest): void {
    if (req.nodes !== null) {
      if (req.nodes > this.nodes.length) {
        const kind = req.exclusive ? "exclusive node(s)" : "node(s)";
        throw new Unsatisfiable(`unsatisfiable request: need ${req.nodes} ${kind}, only ${this.nodes.length} eligible`);
      }
      if (!this.nodes.some((n) => this.fitsIdle(n, req.slots, req))) throw new Unsatisfiable("unsatisfiable request: not enough cores per node");
      return;
    }
    const capacity = this.nodes.reduce((sum, n) => sum + this.slotsThatFit(n.cores, n.gpus, req), 0);
    if (capacity < req.slots) throw new Unsatisfiable(`unsatisfiable request: need ${req.slots} slot(s), only ${capacity} available`);
  }

  /** Allocates now, or returns null when the request has to wait for resources. */
  allocate(req: ResourceRequest): NodeAllocation[] | null {
    const up = this.nodes.filter((n) => !n.down);
    const picks: Array<{ node: NodeState; slots: number }> = [];
    if (req.nodes !== null) {
      const fits = up.filter((n) => (req.exclusive ? n.freeCores.size === n.cores && n.freeGpus.size === n.gpus : this.fitsNow(n, req.slots, req)));
      if (fits.length < req.nodes) return null;
      for (const node of fits.slice(0, req.nodes)) picks.push({ node, slots: req.slots });
    } else {
      let remaining = req.slots;
      for (const node of up) {
        if (remaining === 0) break;
        const slots = Math.min(remaining, this.slotsThatFit(node.freeCores.size, node.freeGpus.size, req));
        if (slots > 0) picks.push({ node, slots });
        remaining -= slots;
      }
      if (remaining > 0) return null;
    }
    return picks.map(({ node, slots }) => {
      const take = (free: Set<number>, n: number) => {
        const ids = [...free].sort((a, b) => a - b).slice(0, n);
        for (const id of ids) free.delete(id);
        return ids;
      };
      const whole = req.nodes !== null && req.exclusive;
      return {
        rank: node.rank,
        slots,
        cores: take(node.freeCores, whole ? node.cores : slots * req.coresPerSlot),
        gpus: take(node.freeGpus, whole ? node.gpus : slots * req.gpusPerSlot),
      };
    });
  }

  release(allocs: NodeAllocation[]): void {
    for (const a of allocs) {
      const node = this.nodes[a.rank];
      for (const c of a.cores) node.freeCores.add(c);
      for (const g of a.gpus) node.freeGpus.add(g);
    }
  }

  setDown(rank: number, down: boolean, reason = ""): void {
    const node = this.nodes[rank];
    if (!node) throw new RangeError(`no rank ${rank}`);
    node.down = down;
    node.drainReason = down ? { timestamp: Date.now() / 1000, reason } : undefined;
  }

  private slotsThatFit(cores: number, gpus: number, req: ResourceRequest): number {
    const byCores = Math.floor(cores / req.coresPerSlot);
    return req.gpusPerSlot > 0 ? Math.min(byCores, Math.floor(gpus / req.gpusPerSlot)) : byCores;
  }

  private fitsIdle(n: NodeState, slots: number, req: ResourceRequest): boolean {
    return this.slotsThatFit(n.cores, n.gpus, req) >= slots;
  }

  private fitsNow(n: NodeState, slots: number, req: ResourceRequest): boolean {
    return this.slotsThatFit(n.freeCores.size, n.freeGpus.size, req) >= slots;
  }

  /** RFC 20 R for a set of per-node core/gpu ids (ranks sharing the same children are grouped). */
  rOf(allocs: Array<{ rank: number; cores: number[]; gpus: number[] }>, times: { starttime: number; expiration: number }, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const sorted = [...allocs].filter((a) => a.cores.length + a.gpus.length > 0).sort((a, b) => a.rank - b.rank);
    const groups = new Map<string, { ranks: number[]; children: Record<string, string> }>();
    for (const a of sorted) {
      const children: Record<string, string> = { core: formatIdset(a.cores) };
      if (a.gpus.length > 0) children.gpu = formatIdset(a.gpus);
      const key = JSON.stringify(children);
      const group = groups.get(key) ?? { ranks: [], children };
      group.ranks.push(a.rank);
      groups.set(key, group);
    }
    return {
      version: 1,
      execution: {
        R_lite: [...groups.values()].map((g) => ({ rank: formatIdset(g.ranks), children: g.children })),
        starttime: times.starttime,
        expiration: times.expiration,
        ...extra,
        nodelist: [compressHostlist(sorted.map((a) => this.nodes[a.rank].hostname))],
      },
    };
  }

  private whole(filter: (n: NodeState) => boolean, ids: (n: NodeState) => { cores: number[]; gpus: number[] }) {
    return this.nodes.filter(filter).map((n) => ({ rank: n.rank, ...ids(n) }));
  }

  /** The payload of resource.sched-status / sched.resource-status: {all, down, allocated}. */
  schedStatus(): Record<string, unknown> {
    const zero = { starttime: 0, expiration: 0 };
    const all = (n: NodeState) => ({ cores: range(n.cores), gpus: range(n.gpus) });
    const used = (n: NodeState) => ({ cores: range(n.cores).filter((c) => !n.freeCores.has(c)), gpus: range(n.gpus).filter((g) => !n.freeGpus.has(g)) });
    return {
      all: this.rOf(this.whole(() => true, all), zero),
      down: this.rOf(this.whole((n) => n.down, all), zero),
      allocated: this.rOf(this.whole(() => true, used), zero),
    };
  }

  /** The payload of resource.status (torpid only on versions that have it). */
  status(withTorpid: boolean): Record<string, unknown> {
    const drain: Record<string, unknown> = {};
    for (const n of this.nodes) if (n.drainReason) drain[String(n.rank)] = n.drainReason;
    const status: Record<string, unknown> = {
      R: this.rOf(this.nodes.map((n) => ({ rank: n.rank, cores: range(n.cores), gpus: range(n.gpus) })), { starttime: 0, expiration: 0 }),
      drain,
      online: formatIdset(this.nodes.map((n) => n.rank)),
      offline: "",
      exclude: "",
    };
    if (withTorpid) status.torpid = "";
    return status;
  }
}
