/**
 * `node dist/sidecar.js`: load the configuration (exit 1 with one clear message when it is
 * invalid), find the broker socket (waiting for it when FLUX_URI is unset), serve, and shut down
 * cleanly on SIGTERM/SIGINT or POST /v1/service/stop.
 */
import { ConfigError, configSecrets, loadConfig, type SidecarConfig } from "./config";
import { createLogger } from "./log";
import { startSidecar } from "./server";
import { waitForSocket } from "./socket";

async function main(): Promise<void> {
  let config: SidecarConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`flux-restful-sidecar: invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  const abort = new AbortController();
  const onSignalWhileWaiting = () => abort.abort();
  process.once("SIGTERM", onSignalWhileWaiting);
  process.once("SIGINT", onSignalWhileWaiting);
  if (!config.fluxUri) {
    const bootLog = createLogger({ level: config.logLevel, secrets: configSecrets(config) });
    try {
      const socket = await waitForSocket(config.socketCandidates, bootLog, { signal: abort.signal });
      config = { ...config, fluxUri: `local://${socket}` };
    } catch {
      process.exit(0); // signalled while waiting
    }
  }
  process.off("SIGTERM", onSignalWhileWaiting);
  process.off("SIGINT", onSignalWhileWaiting);

  const sidecar = await startSidecar(config);
  const stop = () => void sidecar.close();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await sidecar.stopped;
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`flux-restful-sidecar: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
