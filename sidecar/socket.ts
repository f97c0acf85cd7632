/** Finding the broker socket when FLUX_URI is unset: the paths a Flux Operator MiniCluster uses. */
import { statSync } from "node:fs";
import type { Logger } from "./log";

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** The first candidate that exists as a socket now. */
export function findSocket(candidates: readonly string[]): string | undefined {
  return candidates.find(isSocket);
}

/** Waits until one candidate exists, logging progress every `logEveryMs`. */
export async function waitForSocket(
  candidates: readonly string[],
  log: Logger,
  opts: { intervalMs?: number; logEveryMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  const intervalMs = opts.intervalMs ?? 250;
  const logEveryMs = opts.logEveryMs ?? 5000;
  const started = Date.now();
  let lastLog = 0;
  for (;;) {
    const found = findSocket(candidates);
    if (found) return found;
    if (opts.signal?.aborted) throw new Error("stopped while waiting for the Flux socket");
    const waited = Date.now() - started;
    if (waited - lastLog >= logEveryMs || lastLog === 0) {
      log.info({ candidates, waitedSeconds: Math.round(waited / 1000) }, "waiting for the Flux broker socket");
      lastLog = Math.max(waited, 1);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
