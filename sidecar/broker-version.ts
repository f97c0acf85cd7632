/**
 * The broker's flux-core version, logged once when the sidecar first reaches the broker: the
 * version a MiniCluster really runs comes from its Flux view image, so the log (and /readyz,
 * /v1/cluster) say which it is. A version outside the tested range gets a warning: the sidecar
 * still serves it, and a request the broker has no service for is answered 501.
 */
import { type FluxClient, fluxCoreSupport, SUPPORTED_FLUX_CORE, TESTED_FLUX_CORE } from "./flux";
import type { Logger } from "./log";

/** Between attempts while the broker is away. */
const RETRY_MS = 2000;

/**
 * Asks the broker for its version until it answers (or `signal` aborts), then logs it once.
 * Resolves with the version, or undefined when stopped first. Never rejects.
 */
export async function logBrokerVersion(flux: FluxClient, log: Logger, signal: AbortSignal, retryMs = RETRY_MS): Promise<string | undefined> {
  while (!signal.aborted) {
    let version: string;
    try {
      version = await flux.version();
    } catch (err) {
      log.debug({ err: (err as Error).message }, "broker version not known yet (broker not reachable); retrying");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, retryMs);
        timer.unref();
        signal.addEventListener("abort", done, { once: true });
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
      });
      continue;
    }
    const support = fluxCoreSupport(version);
    const fields = { fluxVersion: version, testedVersions: TESTED_FLUX_CORE, supportedRange: `${SUPPORTED_FLUX_CORE.min} to ${SUPPORTED_FLUX_CORE.max}.x` };
    if (support.supported) log.info(fields, `Flux broker runs flux-core ${version}`);
    else {
      log.warn(
        fields,
        `Flux broker runs flux-core ${version}, outside the tested range: ${support.reason}. It is served anyway; a request it has no service for is answered 501.`,
      );
    }
    return version;
  }
  return undefined;
}
