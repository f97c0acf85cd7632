/**
 * `pulumi up` ends only when the API answers: the machine running Pulumi polls the endpoint's
 * /readyz (the broker answers) for a bounded time, trusting the stack's CA, and fails with the
 * likely cause. Clock, sleep and fetch are injectable for tests.
 */
import { Agent } from "undici";

export const READY_TIMEOUT_MS = 15 * 60_000;
export const READY_INTERVAL_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** What the poll needs of fetch: a status, or a thrown error whose cause carries a code. */
export type ReadyFetch = (url: string, init: { signal: AbortSignal; dispatcher?: unknown }) => Promise<{ status: number; text(): Promise<string> }>;

export interface ReadinessOptions {
  fetch?: ReadyFetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  timeoutMs?: number;
  intervalMs?: number;
}

/** How the stacks call it: the endpoint's URL, and the CA to trust when the stack generated one. */
export type WaitUntilReady = (url: string, ca?: string) => Promise<void>;

export class NotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotReadyError";
  }
}

type Outcome = { status: number; body: string } | { code: string; message: string };

function failureCode(err: unknown): { code: string; message: string } {
  let e = err as { code?: string; message?: string; cause?: unknown; name?: string } | undefined;
  const message = String(e?.message ?? err);
  while (e) {
    if (e.code) return { code: e.code, message };
    if (e.name === "TimeoutError" || e.name === "AbortError") return { code: "TIMEOUT", message };
    e = e.cause as typeof e;
  }
  return { code: "UNKNOWN", message };
}

/** The last answer, turned into what most likely holds the API back. */
export function likelyCause(last: Outcome | undefined): string {
  if (!last) return "no attempt finished";
  if ("status" in last) {
    if (last.status === 503 && /broker|socket|flux/i.test(last.body)) {
      return `the sidecar runs but the Flux broker is not ready (503: ${last.body.slice(0, 200)}): the broker socket is not up yet; see the lead broker's logs (kubectl -n <namespace> logs <pod> -c <broker container>)`;
    }
    if (last.status === 502 || last.status === 503 || last.status === 504) {
      return `the load balancer has no healthy target (HTTP ${last.status}): the lead broker's pod is not ready; check kubectl -n <namespace> get pods`;
    }
    return `/readyz answered HTTP ${last.status}: ${last.body.slice(0, 200)}`;
  }
  if (last.code === "ENOTFOUND" || last.code === "EAI_AGAIN") {
    return `the endpoint's name does not resolve (${last.code}): the ALB is not provisioned yet or failed; see the load balancer controller's logs (kubectl -n kube-system logs deploy/aws-load-balancer-controller)`;
  }
  if (last.code === "ECONNREFUSED" || last.code === "TIMEOUT" || last.code === "UND_ERR_CONNECT_TIMEOUT" || last.code === "ECONNRESET") {
    return `nothing answers (${last.code}): the lead broker's pod is likely Pending or still starting (kubectl -n <namespace> get pods), or a firewall range (allowedCidrs, inboundCidrs) excludes this machine`;
  }
  if (/CERT|SELF_SIGNED|ALTNAME|TLS|SSL/i.test(last.code)) {
    return `the TLS handshake failed (${last.code}): the served certificate is not the stack's (${last.message})`;
  }
  return `${last.code}: ${last.message}`;
}

export async function waitUntilReady(url: string, ca: string | undefined, options: ReadinessOptions = {}): Promise<void> {
  const fetchFn = options.fetch ?? (fetch as unknown as ReadyFetch);
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? READY_INTERVAL_MS;
  const dispatcher = ca ? new Agent({ connect: { ca } }) : undefined;
  const target = new URL("/readyz", url).toString();
  const deadline = now() + timeoutMs;
  let last: Outcome | undefined;
  try {
    for (;;) {
      try {
        const res = await fetchFn(target, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(dispatcher ? { dispatcher } : {}) });
        if (res.status === 200) return;
        last = { status: res.status, body: await res.text().catch(() => "") };
      } catch (err) {
        last = failureCode(err);
      }
      if (now() + intervalMs > deadline) break;
      await sleep(intervalMs);
    }
  } finally {
    await dispatcher?.close();
  }
  throw new NotReadyError(`${target} was not ready after ${Math.round(timeoutMs / 60_000)} min: ${likelyCause(last)}`);
}
