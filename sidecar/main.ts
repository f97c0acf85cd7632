/**
 * `node dist/sidecar.js`: load the configuration (exit 1 with one clear message when it is
 * invalid), find the broker socket (waiting for it when FLUX_URI is unset), serve, and shut down
 * cleanly on SIGTERM/SIGINT or POST /v1/service/stop. With FLUX_RESTART_ON_STOP (the MiniCluster
 * sets it) a stop serves again at once: in a pod, nothing else would bring the API back.
 * With FLUX_BUNDLE_FILE, a new bundle mounted there shuts the server down cleanly and exits
 * RELOAD_EXIT_CODE, on which the container's command starts the new bundle.
 */
import { ConfigError, configSecrets, loadConfig, type SidecarConfig } from "./config";
import { createLogger } from "./log";
import { RELOAD_EXIT_CODE, bundleVersion, watchBundle } from "./reload";
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

  // Read first: this process runs the bundle of this version, whatever is mounted later.
  const startedBundle = config.bundleFile ? bundleVersion(config.bundleFile) : undefined;
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

  let signalled = false;
  let newBundle = false;
  let sidecar = await startSidecar(config);
  const stop = () => {
    signalled = true;
    void sidecar.close();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const bundleWatcher = config.bundleFile
    ? watchBundle(config.bundleFile, startedBundle!, config.reloadPollMs, () => {
      newBundle = true;
      sidecar.log.info({ bundle: config.bundleFile }, `a new bundle is mounted: stopping, to be started again (exit ${RELOAD_EXIT_CODE})`);
      void sidecar.close();
    }, sidecar.log)
    : undefined;
  for (;;) {
    await sidecar.stopped;
    if (signalled || newBundle || !config.restartOnStop) break;
    sidecar.log.info("serving again after the stop (FLUX_RESTART_ON_STOP)");
    sidecar = await startSidecar(config);
    // A signal or a new bundle that came while it was starting closed the previous server only.
    if (signalled || newBundle) void sidecar.close();
  }
  bundleWatcher?.stop();
  process.exit(newBundle && !signalled ? RELOAD_EXIT_CODE : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`flux-restful-sidecar: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
