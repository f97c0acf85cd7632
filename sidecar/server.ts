/**
 * Starts the sidecar HTTP(S) server in-process. This is the stable entry point other code and
 * tests use (the client CLI tests, the web UI tests, the stress and fault suites):
 *
 *   const sidecar = await startSidecar(loadConfig({ ...env, PORT: "0" }), { flux, logDestination });
 *   await fetch(`${sidecar.url}/v1/jobs`);
 *   await sidecar.close();
 *
 * - `config.port` 0 picks an ephemeral port; `url` is http(s)://<host>:<port> (0.0.0.0/:: are
 *   reported as 127.0.0.1 so the URL is usable).
 * - `opts.flux`: a FluxClient to use (the caller keeps owning it: close() does not close it).
 *   Without it, one is created for config.fluxUri, or for the first MiniCluster socket path that
 *   exists, and closed by close().
 * - `opts.logDestination`: where the JSON log lines go (default stdout).
 * - `opts.clock`: milliseconds since the epoch for token issue/expiry and rate-limit windows
 *   (default Date.now; tests move it forward to expire tokens).
 * - `stopped` resolves once the server has shut down, whether by close() or by
 *   POST /v1/service/stop (which answers first, then closes).
 */
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, relative } from "node:path";
import { CREDENTIAL_FILES, configSecrets, readCredentials, readTls, type Credentials, type SidecarConfig } from "./config";
import { FluxClient } from "./flux";
import { createLogger, masked, type Logger } from "./log";
import { apiListener, buildApi } from "./api";
import { Auth } from "./api/auth";
import { ConnectionGate } from "./api/connections";
import { Metrics } from "./api/metrics";
import { FluxApiService } from "./api/service";
import { brokerOwner, Workspace } from "./api/workspace";
import { findSocket } from "./socket";
import { logBrokerVersion } from "./broker-version";
import { registerWeb } from "./web";
import { VolumeWatcher, volumeVersion } from "./reload";
import { FluxProxy } from "./proxy/server";

export interface SidecarHandle {
  url: string;
  port: number;
  close(): Promise<void>;
  stopped: Promise<void>;
  log: Logger;
}

/** How long open connections (streams) get to finish after close() before they are cut. */
const CLOSE_GRACE_MS = 2000;

export function fluxUriFor(config: SidecarConfig): string {
  if (config.fluxUri) return config.fluxUri;
  return `local://${findSocket(config.socketCandidates) ?? config.socketCandidates[0]}`;
}

function logBanner(log: Logger, config: SidecarConfig, uri: string, url: string): void {
  log.info(
    {
      url,
      fluxUri: uri,
      requireAuth: config.requireAuth,
      user: config.user,
      token: masked(config.token),
      secretKey: masked(config.secretKey),
      accessTokenExpiresMinutes: config.accessTokenExpiresMinutes,
      numberNodes: config.numberNodes ?? "broker size",
      hasGpus: config.hasGpus,
      optionFlags: config.optionFlags,
      tls: Boolean(config.tls),
      fluxProxy: config.fluxProxy,
    },
    `Flux RESTful sidecar listening on ${url} (auth ${config.requireAuth ? "required" : "off"})`,
  );
}

export async function startSidecar(
  config: SidecarConfig,
  opts: { flux?: FluxClient; logDestination?: NodeJS.WritableStream; clock?: () => number } = {},
): Promise<SidecarHandle> {
  // Mounted credentials are read now (they may have changed since the config was loaded, e.g. before
  // a restart after a stop), and their version first, so a change after the read is not missed.
  const credentialFiles = Object.values(CREDENTIAL_FILES);
  const credentialsVersion = config.credentialsDir ? volumeVersion(config.credentialsDir, credentialFiles) : undefined;
  if (config.credentialsDir) config = { ...config, ...readCredentials(config.credentialsDir, config.requireAuth) };
  const tlsDir = config.tlsFiles && dirname(config.tlsFiles.cert);
  const tlsNames = config.tlsFiles ? [relative(tlsDir!, config.tlsFiles.cert), relative(tlsDir!, config.tlsFiles.key)] : [];
  const tlsVersion = tlsDir ? volumeVersion(tlsDir, tlsNames) : undefined;
  if (config.tlsFiles) config = { ...config, tls: readTls(config.tlsFiles) };
  // Grows by the rotated credentials (never shrinks: an old token stays out of the logs too).
  const secrets = configSecrets(config);
  const log = createLogger({ level: config.logLevel, secrets, destination: opts.logDestination });
  const ownsFlux = !opts.flux;
  const flux = opts.flux ?? new FluxClient({ uri: fluxUriFor(config), maxMessageBytes: config.maxMessageBytes });
  const shutdown = new AbortController();
  let closing: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));

  const workspace = config.workspace
    ? new Workspace(config.workspace, {
        maxListEntries: config.maxListEntries,
        maxUploadBytes: config.maxUploadBytes,
        owner: () => brokerOwner(flux.socketPath),
      })
    : undefined;
  const deps = {
    config,
    service: new FluxApiService(flux, {
      numberNodes: config.numberNodes,
      hasGpus: config.hasGpus,
      optionFlags: config.optionFlags,
      jobPath: config.jobPath,
      workspace,
    }),
    workspace,
    auth: new Auth(config, opts.clock),
    log,
    metrics: new Metrics(),
    shutdownSignal: shutdown.signal,
    // The answer is flushed before the listener closes: close after the current tick's I/O.
    requestStop: () => setTimeout(() => void close(), 50),
  };
  const app = buildApi(deps);
  registerWeb(app);
  const gate = new ConnectionGate({ ...config, tls: Boolean(config.tls) });
  const listener = apiListener(app, deps, gate.reserveOnly);
  const limits = {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // Check the two timeouts above often enough that they hold to about a second.
    connectionsCheckingInterval: 1000,
  };
  // node:https (and TLS with it) is loaded only when used: it costs about 1 MB of RSS.
  const server: Server = config.tls
    ? (await import("node:https")).createServer({ ...limits, cert: config.tls.cert, key: config.tls.key, handshakeTimeout: config.headersTimeoutMs }, listener)
    : createHttpServer(limits, listener);
  gate.attach(server);
  const proxy = new FluxProxy(
    {
      enabled: config.fluxProxy,
      maxConnections: config.proxyMaxConnections,
      maxConnectionsPerUser: config.proxyMaxConnectionsPerUser,
      idleMs: config.proxyIdleMs,
      maxMessageBytes: config.maxMessageBytes,
      allowTopics: config.proxyAllowTopics,
    },
    { auth: deps.auth, log, socketPath: () => flux.socketPath, claim: (socket) => gate.claim(socket as import("node:net").Socket), serve: listener },
  );
  // Only when on: with no "upgrade" listener Node serves every request as before (the proxy path is a 404).
  if (config.fluxProxy) server.on("upgrade", proxy.upgrade);
  deps.metrics.trackConnections(gate);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const credentialsWatcher = config.credentialsDir
    ? new VolumeWatcher(config.credentialsDir, credentialFiles, config.reloadPollMs, () => {
      let next: Credentials;
      try {
        next = readCredentials(config.credentialsDir!, config.requireAuth);
      } catch (err) {
        // A rotation usually means the old credentials may be known: a Secret that cannot be read
        // ends them too (fail closed) until it holds valid ones.
        deps.auth.rotate({ user: deps.auth.user });
        throw new Error(`${(err as Error).message}; the earlier credentials are refused until the Secret holds valid ones`);
      }
      for (const secret of [next.token, next.secretKey]) if (secret && !secrets.includes(secret)) secrets.push(secret);
      deps.auth.rotate(next);
      log.info({ user: next.user, dir: config.credentialsDir }, "credentials reloaded: only the new ones are accepted, earlier access tokens ended");
    }, log, credentialsVersion)
    : undefined;
  const tlsWatcher = config.tlsFiles && "setSecureContext" in server
    ? new VolumeWatcher(tlsDir!, tlsNames, config.reloadPollMs, () => {
      const next = readTls(config.tlsFiles!);
      // Throws on a key that does not match the certificate: the watcher logs it and the old pair stays.
      (server as import("node:https").Server).setSecureContext({ cert: next.cert, key: next.key });
      log.info({ cert: config.tlsFiles!.cert }, "TLS certificate reloaded: new connections get it");
    }, log, tlsVersion)
    : undefined;
  const port = (server.address() as AddressInfo).port;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const url = `${config.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  logBanner(log, config, flux.uri, url);
  void logBrokerVersion(flux, log, shutdown.signal);

  function close(): Promise<void> {
    closing ??= (async () => {
      log.info("shutting down");
      credentialsWatcher?.stop();
      tlsWatcher?.stop();
      shutdown.abort();
      proxy.close();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections become idle as their last response ends (streams end on the
      // shutdown signal): close them as they do; cut whatever is still open after the grace.
      const idle = setInterval(() => server.closeIdleConnections(), 25);
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await done;
      clearInterval(idle);
      clearTimeout(cut);
      if (ownsFlux) await flux.close();
      log.info("stopped");
      log.flush();
      resolveStopped();
    })();
    return closing;
  }

  return { url, port, close, stopped, log };
}
