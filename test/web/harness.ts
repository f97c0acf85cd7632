// Test-only helpers for the web suites: a test broker plus an in-process sidecar on port 0, and
// Debian's Chromium driven by playwright-core (skipped, with a message, when it is not installed).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { chromium, type BrowserContext } from "playwright-core";
import { loadConfig } from "../../sidecar/config";
import { startSidecar, type SidecarHandle } from "../../sidecar/server";
import { startBroker, type BrokerHandle } from "../support/broker";
import { BIG_ID_START_MS } from "../test-broker";

export const chromiumPath = "/usr/bin/chromium";
export const chromiumArgs = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
export const screenshotDir = path.join(__dirname, "..", "..", "test-results", "screenshots");

export const credentials = { user: "alice", token: "web-test-token-5f2c" };

export interface Stack { broker: BrokerHandle; sidecar: SidecarHandle; url: string; close(): Promise<void> }

/**
 * The shared test broker (4 nodes, job ids beyond 2^53; or the real one) and a sidecar in front;
 * with `workspace`, the sidecar's FLUX_WORKSPACE (and this PATH for jobs, so a batch job finds flux).
 */
export async function startStack(opts: { auth: boolean; workspace?: string }): Promise<Stack> {
  const broker = await startBroker({ size: 4, coresPerNode: 4, fluidStartMs: BIG_ID_START_MS });
  const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
  const config = loadConfig({
    FLUX_URI: broker.uri,
    HOST: "127.0.0.1",
    PORT: "0",
    FLUX_REQUIRE_AUTH: String(opts.auth),
    FLUX_USER: credentials.user,
    FLUX_TOKEN: credentials.token,
    FLUX_SECRET_KEY: "web-test-secret-key-0123456789abcdef",
    ...(opts.workspace ? { FLUX_WORKSPACE: opts.workspace, FLUX_JOB_PATH: process.env.PATH } : {}),
  });
  const sidecar = await startSidecar(config, { logDestination: quiet });
  return {
    broker,
    sidecar,
    url: sidecar.url,
    async close() {
      await sidecar.close();
      await broker.stop();
    },
  };
}

/** A fresh Chromium profile, or undefined (after saying why) when Chromium is not installed. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> } | undefined> {
  if (!existsSync(chromiumPath)) {
    console.log(`    browser tests skipped: ${chromiumPath} not found (run scripts/install-browser.sh)`);
    return undefined;
  }
  const profile = mkdtempSync(path.join(tmpdir(), "flux-web-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    args: chromiumArgs,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 800 },
    timeout: 20_000,
  });
  context.setDefaultTimeout(8_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A reverse proxy serving `target` under `/<prefix>/`, as an ingress with a path prefix would. */
export async function startPrefixProxy(target: string, prefix: string): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer, request } = await import("node:http");
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    if (!req.url?.startsWith(`/${prefix}/`)) {
      res.writeHead(404).end();
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url.slice(prefix.length + 1), headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.writeHead(502).end());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as import("node:net").AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${prefix}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
